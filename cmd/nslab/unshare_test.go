package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nslab/nslab/nslabtest"
)

// TestUpInsideUnshareNet runs nslab in a network namespace of its own
// that keeps the machine's mount namespace, as under unshare -n or
// nsenter --net: /sys shows the machine's links, not nslab's. up must
// build the lab all the same, check must pass, and down leave nothing.
func TestUpInsideUnshareNet(t *testing.T) {
	nslabtest.RequireRoot(t)
	holder := exec.Command("unshare", "--net", "--", "sleep", "600")
	if err := holder.Start(); err != nil {
		t.Skipf("unshare: %v", err)
	}
	t.Cleanup(func() { holder.Process.Kill(); holder.Wait() })
	pid := fmt.Sprint(holder.Process.Pid)
	for mine, _ := os.Readlink("/proc/self/ns/net"); ; time.Sleep(time.Millisecond) {
		if its, _ := os.Readlink("/proc/" + pid + "/ns/net"); its != "" && its != mine {
			break
		}
	}
	in := func(args ...string) (string, error) {
		out, err := exec.Command("nsenter", append([]string{"-t", pid, "-n", "--", bin}, args...)...).CombinedOutput()
		return string(out), err
	}
	// A machine's root namespace has its loopback up: the host reaches
	// its own addresses through it.
	if out, err := exec.Command("nsenter", "-t", pid, "-n", "--", "ip", "link", "set", "lo", "up").CombinedOutput(); err != nil {
		t.Fatalf("ip link set lo up: %v\n%s", err, out)
	}
	name := nslabtest.Name("u")
	r := nslab(t, "", "gen", "star", "--nodes", "4", "--host", "--name", name)
	if r.code != 0 {
		t.Fatal(r.stderr)
	}
	file := filepath.Join(t.TempDir(), name+".yaml")
	if err := os.WriteFile(file, []byte(r.stdout), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if out, err := in("down", "-q", name); err != nil {
			t.Errorf("down: %v\n%s", err, out)
		}
		nslabtest.CheckLeaks(t, name)
	})
	start := time.Now()
	if out, err := in("up", file); err != nil {
		t.Fatalf("up under unshare -n: %v after %v\n%s", err, time.Since(start).Round(time.Millisecond), out)
	}
	t.Logf("up under unshare -n in %v", time.Since(start).Round(time.Millisecond))
	if out, err := in("check", name); err != nil || !strings.Contains(out, "0 failed") {
		t.Errorf("check: %v\n%s", err, out)
	}
	if out, err := in("down", "-q", name); err != nil {
		t.Errorf("down: %v\n%s", err, out)
	}
	if left := nslabtest.Leftovers(name); len(left) > 0 {
		t.Errorf("down left %s", strings.Join(left, "; "))
	}
}
