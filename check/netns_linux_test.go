package check

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/nslab/nslab/internal/netnsdir"
	"github.com/nslab/nslab/kernel"
)

// needRoot skips a test that builds namespaces, unless run as root.
func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates network namespaces, veth pairs and raw sockets")
	}
}

// ip runs an ip(8) command for test setup; product code never does.
func ip(t *testing.T, args ...string) {
	t.Helper()
	ipIn(t, "", args...)
}

// ipOut runs an ip(8) command and returns its output.
func ipOut(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// ipIn runs ip(8) with stdin.
func ipIn(t *testing.T, stdin string, args ...string) {
	t.Helper()
	cmd := exec.Command("ip", args...)
	cmd.Stdin = strings.NewReader(stdin)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// newNetns creates a throwaway named namespace with lo up, removed at
// cleanup, after which it checks that nothing of it is left.
func newNetns(t *testing.T, suffix string) string {
	t.Helper()
	name := fmt.Sprintf("nslchk-%d-%s", os.Getpid(), suffix)
	holdNetnsDir(t)
	ip(t, "netns", "add", name)
	t.Cleanup(func() { checkGone(t, name) })
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
			t.Errorf("ip netns del %s: %v\n%s", name, err, out)
		}
	})
	t.Cleanup(func() { dumpIfFailed(t, name) })
	ip(t, "-n", name, "link", "set", "lo", "up")
	return name
}

// dumpIfFailed logs a namespace's links, addresses and neighbours when
// the test failed, before the namespace goes.
func dumpIfFailed(t *testing.T, name string) {
	if !t.Failed() {
		return
	}
	var b strings.Builder
	for _, args := range [][]string{{"-br", "link"}, {"-br", "addr"}, {"neigh"}, {"-6", "neigh"}} {
		out, _ := exec.Command("ip", append([]string{"-n", name}, args...)...).CombinedOutput()
		b.Write(out)
	}
	t.Logf("state of %s:\n%s", name, b.String())
}

// checkGone is the leak check: the namespace is neither mounted nor
// listed.
func checkGone(t *testing.T, name string) {
	t.Helper()
	if _, err := os.Stat(kernel.NetnsPath(name)); !os.IsNotExist(err) {
		t.Errorf("leak: %s still exists (%v)", kernel.NetnsPath(name), err)
	}
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		t.Errorf("ip netns list: %v", err)
	}
	for _, l := range strings.Split(string(out), "\n") {
		if strings.Fields(l + " x")[0] == name {
			t.Errorf("leak: ip netns list shows %s", name)
		}
	}
}

// veth joins devA in namespace a to devB in namespace b, both up, with
// addresses (IPv6 ones without DAD).
func veth(t *testing.T, a, devA, b, devB string, addrsA, addrsB []string) {
	t.Helper()
	ip(t, "-n", a, "link", "add", devA, "type", "veth", "peer", "name", devB, "netns", b)
	addAddrs(t, a, devA, addrsA...)
	addAddrs(t, b, devB, addrsB...)
	waitUp(t, a, devA)
	waitUp(t, b, devB)
}

// waitUp waits until dev is operationally up and has no tentative IPv6
// address. A new veth end can show NO-CARRIER for up to a second (the
// kernel's linkwatch defers the event), and until then even nodad
// addresses stay tentative, unusable as a source.
func waitUp(t *testing.T, ns, dev string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		out, err := exec.Command("ip", "-n", ns, "-br", "link", "show", "dev", dev).Output()
		up := err == nil && len(strings.Fields(string(out))) > 1 && strings.Fields(string(out))[1] == "UP"
		if up && !tentative(ns, dev) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s in %s not up after 5s: %s %v", dev, ns, out, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// addAddrs assigns addresses and sets the device up.
func addAddrs(t *testing.T, ns, dev string, addrs ...string) {
	t.Helper()
	var batch strings.Builder
	for _, a := range addrs {
		fmt.Fprintf(&batch, "addr add %s dev %s", a, dev)
		if strings.Contains(a, ":") {
			batch.WriteString(" nodad")
		}
		batch.WriteByte('\n')
	}
	fmt.Fprintf(&batch, "link set %s up\n", dev)
	ipIn(t, batch.String(), "-n", ns, "-batch", "-")
}

// sysctlIn sets a namespace's sysctl through its /proc/sys/net.
func sysctlIn(t *testing.T, ns, key, value string) {
	t.Helper()
	path := "/proc/sys/" + strings.ReplaceAll(key, ".", "/")
	ip(t, "netns", "exec", ns, "sh", "-c", fmt.Sprintf("echo %s > %s", value, path))
}

// tentative reports whether dev has a tentative global IPv6 address
// (link-local ones go through DAD, which the tests do not need).
func tentative(ns, dev string) bool {
	out, err := exec.Command("ip", "-n", ns, "-6", "addr", "show", "dev", dev, "scope", "global", "tentative").Output()
	return err != nil || len(strings.TrimSpace(string(out))) > 0
}

// needNeighbours skips a test when the kernel's neighbour tables, shared
// by every namespace of the machine, lack room for n more entries per
// family: the test would fail for reasons of its neighbours.
func needNeighbours(t *testing.T, n int) {
	t.Helper()
	for _, fam := range []struct{ stat, limit string }{
		{"/proc/net/stat/arp_cache", "/proc/sys/net/ipv4/neigh/default/gc_thresh3"},
		{"/proc/net/stat/ndisc_cache", "/proc/sys/net/ipv6/neigh/default/gc_thresh3"},
	} {
		stat, err1 := os.ReadFile(fam.stat)
		limit, err2 := os.ReadFile(fam.limit)
		if err1 != nil || err2 != nil {
			continue
		}
		// A header, then one line per CPU; "entries" (hex, first
		// column) counts the whole table.
		lines := strings.Split(string(stat), "\n")
		var used, max int64
		if len(lines) > 1 {
			fmt.Sscanf(lines[1], "%x", &used)
		}
		fmt.Sscan(string(limit), &max)
		if used+int64(n) > max {
			t.Skipf("neighbour table busy: %d of %d entries used (%s), %d more needed", used, max, fam.stat, n)
		}
	}
}

// holdNetnsDir makes the test a user of /run/netns as nslab's ups are
// (see nslabtest.HoldNetnsDir, which check's own tests cannot import: it
// imports check through the lab).
func holdNetnsDir(t *testing.T) {
	t.Helper()
	const state = "/run/nslab"
	release, err := netnsdir.Hold(state)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		release()
		netnsdir.Release(state)
		os.Remove(state + "/.locks")
		os.Remove(state)
	})
}
