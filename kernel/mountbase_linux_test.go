package kernel

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestStartFromBase: a command started from a MountBase lives in the
// node's namespace, sees the node's /sys, and its mount namespace holds
// none of the machine's named namespaces (a copy of the host's holds
// them all).
func TestStartFromBase(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to make a network namespace")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("needs ip (iproute2) to make the test's namespace")
	}
	name := fmt.Sprintf("nslabkmb%d.n1", os.Getpid())
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add: %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("ip", "netns", "del", name).Run() })
	base, err := NewMountBase()
	if err != nil {
		t.Fatal(err)
	}
	defer base.Close()
	ino, _ := NetnsInode(name)
	script := `readlink /proc/self/ns/net; ls /sys/class/net; grep -c " ` + NetnsDir + `/" /proc/self/mountinfo`
	for _, c := range []struct {
		base *MountBase
		want string
	}{{base, fmt.Sprintf("net:[%d]\nlo\n0\n", ino)}, {nil, fmt.Sprintf("net:[%d]\nlo\n", ino)}} {
		cmd := exec.Command("/bin/sh", "-c", script)
		var out strings.Builder
		cmd.Stdout = &out
		if err := StartFrom(c.base, name, "", cmd); err != nil {
			t.Fatal(err)
		}
		cmd.Wait()
		if c.base != nil && out.String() != c.want || c.base == nil && (!strings.HasPrefix(out.String(), c.want) || strings.HasSuffix(out.String(), "\n0\n")) {
			t.Errorf("started from base %v: %q, want %q (and no /run/netns mount only from the base)", c.base != nil, out.String(), c.want)
		}
	}
}

// BenchmarkStartFrom: starting /bin/true in a node from the host's mount
// namespace (StartIn) and from a MountBase, with NSLAB_BENCH_NETNS (200
// unless set) other named namespaces on the machine, as a big lab has.
func BenchmarkStartFrom(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("needs root to make network namespaces")
	}
	n := 200
	fmt.Sscan(os.Getenv("NSLAB_BENCH_NETNS"), &n)
	prefix := fmt.Sprintf("nslabkmbb%d", os.Getpid())
	defer func() {
		for i := range n {
			exec.Command("ip", "netns", "del", fmt.Sprintf("%s.n%d", prefix, i)).Run()
		}
	}()
	for i := range n {
		if out, err := exec.Command("ip", "netns", "add", fmt.Sprintf("%s.n%d", prefix, i)).CombinedOutput(); err != nil {
			b.Fatalf("ip netns add: %v: %s", err, out)
		}
	}
	name := prefix + ".n0"
	base, err := NewMountBase()
	if err != nil {
		b.Fatal(err)
	}
	defer base.Close()
	for _, c := range []struct {
		what string
		base *MountBase
	}{{"host-copy", nil}, {"base", base}} {
		b.Run(c.what, func(b *testing.B) {
			for b.Loop() {
				cmd := exec.Command("/bin/true")
				if err := StartFrom(c.base, name, "", cmd); err != nil {
					b.Fatal(err)
				}
				cmd.Wait()
			}
		})
	}
}
