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

// TestOtherNetnsRefused: a lab built in the machine's namespace is left
// alone by nslab run in another (unshare -n, or nsenter --net into one of
// the lab's nodes): up, down, status and check refuse, naming both
// namespaces, and the lab keeps working. Before, unshare -n nslab up FILE
// of the running lab saw none of its bridges, deleted every node's cable
// to make them anew there, and check failed 4 of 4 pairs; status showed
// drift in every node.
func TestOtherNetnsRefused(t *testing.T) {
	file, name := starFile(t, "o", 2)
	if r := nslab(t, "", "up", "-q", file); r.code != 0 {
		t.Fatal(r.stderr)
	}
	node := "/run/netns/" + name + ".h1"
	for _, via := range [][]string{{"unshare", "-n", "--"}, {"nsenter", "--net=" + node, "--"}} {
		for _, args := range [][]string{{"up", file}, {"up", "--repair", file}, {"status", name}, {"check", name}, {"down", name}} {
			cmd := exec.Command(via[0], append(append(via[1:], bin), args...)...)
			r := runCmd(t, cmd, "", args)
			if r.code != 1 || !strings.Contains(r.stderr, "was built in the network namespace") {
				t.Errorf("%s nslab %s: exit %d, want 1 and the namespaces named\n%s%s", via[0], strings.Join(args, " "), r.code, r.stdout, r.stderr)
			}
		}
	}
	if r := nslab(t, "", "check", name); r.code != 0 {
		t.Errorf("check after the tries: %s%s", r.stdout, r.stderr)
	}
	if r := nslab(t, "", "up", file); r.code != 0 || !strings.Contains(r.stderr, "nothing to change") {
		t.Errorf("up after the tries: %s%s", r.stdout, r.stderr)
	}
}
