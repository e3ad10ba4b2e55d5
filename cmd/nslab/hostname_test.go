package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nslab/nslab/nslabtest"
)

const hostnameLab = `name: %s
bridges:
  br0: {addresses: [%[2]s.1/24]}
nodes:
  a:
    interfaces:
      eth0: {link: br0, addresses: [%[2]s.2/24]}
  b:
    hostname: %[3]s
    interfaces:
      eth0: {link: br0, addresses: [%[2]s.3/24]}
  c: {}
`

// TestHostnames: every node answers to its own hostname through both exec
// paths, hostname -f and a lookup of it answer at once, a changed
// hostname reaches processes already running in the node, the host's
// hostname is untouched, and down leaves nothing.
func TestHostnames(t *testing.T) {
	subnet := nslabtest.Subnet(t)
	file, name := seedFile(t, subnet) // for its name, teardown and leak check
	write := func(b string) {
		if err := os.WriteFile(file, []byte(fmt.Sprintf(hostnameLab, name, subnet, b)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("bee")
	host, _ := os.Hostname()
	if r := nslab(t, "", "up", file); r.code != 0 {
		t.Fatalf("up: %s", r.stderr)
	}
	want := map[string][2]string{"a": {"a", subnet + ".2"}, "b": {"bee", subnet + ".3"}, "c": {"c", "127.0.1.1"}}
	script := `hostname; s=$(date +%s%N); hostname -f; getent hosts "$(hostname)"; e=$(date +%s%N); echo $(( (e-s)/1000000 ))`
	for _, node := range []string{"a", "b", "c"} {
		for _, env := range []string{"", "NSLAB_NO_FAST_EXEC=1"} {
			cmd := exec.Command(bin, "exec", name+"."+node, "--", "sh", "-c", script)
			cmd.Env = append(os.Environ(), env)
			var stderr strings.Builder
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("exec %s (%s): %v\n%s", node, env, err, stderr.String())
			}
			f := strings.Fields(string(out))
			h, addr := want[node][0], want[node][1]
			if len(f) < 5 || f[0] != h || f[1] != h+"."+name || f[2] != addr || f[3] != h+"."+name || f[4] != h {
				t.Errorf("node %s (%s): hostname, hostname -f, getent gave %q; want %s, %s.%s, then %s %s.%s %s", node, env, out, h, h, name, addr, h, name, h)
				continue
			}
			if ms, _ := strconv.Atoi(f[len(f)-1]); ms > 1000 {
				t.Errorf("node %s (%s): hostname -f and getent took %d ms: a lookup waited for DNS", node, env, ms)
			}
			t.Logf("node %s %s: hostname -f and getent in %s ms", node, env, f[len(f)-1])
		}
	}

	// A process that lives in b sees its hostname change in place.
	sleep := exec.Command(bin, "exec", name+".b", "--", "sleep", "60")
	if err := sleep.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sleep.Process.Kill(); sleep.Wait() })
	time.Sleep(200 * time.Millisecond)
	write("bz")
	if r := nslab(t, "", "up", file); r.code != 0 {
		t.Fatalf("up with a new hostname: %s", r.stderr)
	}
	uts := filepath.Join("/proc", strconv.Itoa(sleep.Process.Pid), "ns", "uts")
	out, err := exec.Command("nsenter", "--uts="+uts, "hostname").Output()
	if got := strings.TrimSpace(string(out)); err != nil || got != "bz" {
		t.Errorf("b's running process: hostname %q (%v), want bz", got, err)
	}
	if r := nslab(t, "", "exec", name+".b", "hostname"); r.stdout != "bz\n" {
		t.Errorf("exec b hostname after the change: %q %s, want bz", r.stdout, r.stderr)
	}
	if now, _ := os.Hostname(); now != host {
		t.Errorf("the host's hostname changed: %q, was %q", now, host)
	}
	// seedFile's cleanup downs the lab and checks that no holder mount or
	// state is left.
}
