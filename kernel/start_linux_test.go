package kernel

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
)

// TestStartIn: a command started in a namespace lives in it (its
// /proc/self/ns/net is the namespace's inode), takes Dir and Credential
// after entering, sees the file bound over /etc, and nslab's own
// threads stay where they were.
func TestStartIn(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to make a network namespace")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("needs ip (iproute2) to make the test's namespace")
	}
	name := fmt.Sprintf("nslabkt%d.n1", os.Getpid())
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add: %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("ip", "netns", "del", name).Run() })
	ino, err := NetnsInode(name)
	if err != nil {
		t.Fatal(err)
	}
	hosts := t.TempDir() + "/hosts"
	if err := os.WriteFile(hosts, []byte("192.0.2.7 marker-host\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	before, _ := os.Readlink("/proc/self/ns/net")

	cmd := exec.Command("/bin/sh", "-c", "readlink /proc/self/ns/net; pwd; id -u; cat /etc/hosts")
	cmd.Dir = "/tmp"
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}, Setsid: true}
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := StartIn(name, "", cmd, hosts); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("%v: %s", err, out.String())
	}
	want := fmt.Sprintf("net:[%d]\n/tmp\n65534\n192.0.2.7 marker-host\n", ino)
	if out.String() != want {
		t.Errorf("the command printed\n%s\nwant\n%s", out.String(), want)
	}
	if after, _ := os.Readlink("/proc/self/ns/net"); after != before {
		t.Errorf("nslab's own namespace changed: %s, was %s", after, before)
	}
	for range 20 { // the threads nslab runs on are never left inside
		c := exec.Command("readlink", "/proc/self/ns/net")
		if o, err := c.Output(); err != nil || strings.TrimSpace(string(o)) != before {
			t.Fatalf("a command started after StartIn runs in %q (%v), want %s", o, err, before)
		}
	}

	bad := exec.Command("/bin/true")
	if err := StartIn("nslabkt-none.n1", "", bad); err == nil || !strings.Contains(err.Error(), "nslabkt-none.n1") {
		t.Errorf("StartIn in a namespace that does not exist: %v, want an error naming it", err)
	}
}

// BenchmarkStartIn: what starting /bin/true in a node costs, against a
// plain exec.Command on the host.
func BenchmarkStartIn(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("needs root to make a network namespace")
	}
	name := fmt.Sprintf("nslabkb%d.n1", os.Getpid())
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		b.Fatalf("ip netns add: %v: %s", err, out)
	}
	defer exec.Command("ip", "netns", "del", name).Run()
	b.Run("in-node", func(b *testing.B) {
		for b.Loop() {
			c := exec.Command("/bin/true")
			if err := StartIn(name, "", c); err != nil {
				b.Fatal(err)
			}
			c.Wait()
		}
	})
	b.Run("host", func(b *testing.B) {
		for b.Loop() {
			if err := exec.Command("/bin/true").Run(); err != nil {
				b.Fatal(err)
			}
		}
	})
}
