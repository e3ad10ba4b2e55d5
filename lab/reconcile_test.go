package lab_test

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"

	"github.com/nslab/nslab/check"
	"github.com/nslab/nslab/lab"
	"github.com/nslab/nslab/nslabtest"
	"github.com/nslab/nslab/plan"
	"github.com/nslab/nslab/topology"
)

// reparse parses yaml as a new version of the running lab tl.
func reparse(t *testing.T, tl *topology.Lab, yaml string) *topology.Lab {
	t.Helper()
	src := []byte("name: " + tl.Name + "\n" + yaml)
	nl, err := topology.Parse(tl.Name+".yaml", src)
	if err != nil {
		t.Fatal(err)
	}
	sources[nl] = src
	return nl
}

func inode(t *testing.T, path string) uint64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Sys().(*syscall.Stat_t).Ino
}

// TestReconcileKeepsUntouchedNodes changes a running lab twice: a node
// added and an address changed, then two nodes removed. The node the
// changes do not touch keeps its namespace and its process.
func TestReconcileKeepsUntouchedNodes(t *testing.T) {
	yaml := seed(t)
	tl := up(t, yaml)
	ns1 := "/run/netns/" + tl.Name + ".ns1"
	ino := inode(t, ns1)
	sleeper := exec.Command("ip", "netns", "exec", tl.Name+".ns1", "sleep", "60")
	if err := sleeper.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sleeper.Process.Kill(); sleeper.Wait() })

	// ns2's IPv4 address moves from .3 to .7; ns3 joins the bridge.
	sub := strings.TrimSuffix(strings.SplitN(strings.SplitN(yaml, "addresses: [", 2)[1], "/24", 2)[0], ".1")
	changed := strings.Replace(yaml, sub+".3/24", sub+".7/24", 1) +
		"  ns3:\n    interfaces:\n      eth0: {link: br-ns, addresses: [" + sub + ".4/24]}\n"
	v2 := reparse(t, tl, changed)
	if err := lab.Up(context.Background(), v2, sources[v2], lab.Options{}); err != nil {
		t.Fatalf("changing the lab: %v", err)
	}
	if got := inode(t, ns1); got != ino {
		t.Errorf("ns1 got a new namespace (inode %d, was %d)", got, ino)
	}
	if err := sleeper.Process.Signal(syscall.Signal(0)); err != nil {
		t.Errorf("the process in ns1 is gone: %v", err)
	}
	ns2 := nslabtest.IP(t, "-n", tl.Name+".ns2", "-4", "addr", "show", "eth0")
	if !strings.Contains(ns2, sub+".7/24") || strings.Contains(ns2, sub+".3/24") {
		t.Errorf("ns2's addresses after the change:\n%s", ns2)
	}
	rep, err := lab.Check(context.Background(), v2, check.Options{})
	if err != nil || rep.Failed > 0 || rep.Passed == 0 {
		t.Errorf("check after the change: %v, %d passed, %d failed", err, rep.Passed, rep.Failed)
	}

	// ns2 and ns3 leave.
	v3 := reparse(t, tl, yaml[:strings.Index(yaml, "  ns2:")])
	if err := lab.Up(context.Background(), v3, sources[v3], lab.Options{}); err != nil {
		t.Fatalf("removing nodes: %v", err)
	}
	if got := inode(t, ns1); got != ino {
		t.Errorf("ns1 got a new namespace (inode %d, was %d)", got, ino)
	}
	for _, n := range []string{"ns2", "ns3"} {
		if _, err := os.Stat("/run/netns/" + tl.Name + "." + n); !os.IsNotExist(err) {
			t.Errorf("%s is still there: %v", n, err)
		}
		if out, _ := exec.Command("ip", "link", "show", plan.PortName(tl.Name, n, "eth0")).CombinedOutput(); !strings.Contains(string(out), "does not exist") {
			t.Errorf("the port of %s is still there:\n%s", n, out)
		}
	}
}

// TestAssignedAddressesStay: addresses that nslab chose from a subnet
// stay with their interfaces when a node that sorts first joins.
func TestAssignedAddressesStay(t *testing.T) {
	sub := nslabtest.Subnet(t)
	yaml := strings.ReplaceAll(`
bridges:
  lan: {subnets: [SUB.0/24, fd10:SUB6::/64], gateway: true}
nodes:
  m:
    interfaces:
      eth0: {link: lan}
  n:
    interfaces:
      eth0: {link: lan}
`, "SUB6", strings.ReplaceAll(strings.TrimPrefix(sub, "10."), ".", ":"))
	yaml = strings.ReplaceAll(yaml, "SUB", sub)
	tl := up(t, yaml)
	addr := func(node string) string {
		return nslabtest.IP(t, "-n", tl.Name+"."+node, "-br", "addr", "show", "eth0")
	}
	before := map[string]string{"m": addr("m"), "n": addr("n")}
	if !strings.Contains(before["m"], sub+".2/24") || !strings.Contains(before["n"], sub+".3/24") {
		t.Fatalf("assigned addresses: m %q, n %q", before["m"], before["n"])
	}
	if br := nslabtest.IP(t, "-br", "addr", "show", plan.BridgeAltName(tl.Name, "lan")); !strings.Contains(br, sub+".1/24") {
		t.Errorf("the gateway bridge has %q, want %s.1/24", br, sub)
	}
	v2 := reparse(t, tl, yaml+"  a:\n    interfaces:\n      eth0: {link: lan}\n")
	if err := lab.Up(context.Background(), v2, sources[v2], lab.Options{}); err != nil {
		t.Fatal(err)
	}
	for n, b := range before {
		if got := addr(n); got != b {
			t.Errorf("%s's addresses changed from %q to %q", n, b, got)
		}
	}
	if got := addr("a"); !strings.Contains(got, sub+".4/24") {
		t.Errorf("the newcomer a got %q, want the first free address %s.4", got, sub)
	}
	st, err := lab.Topology(tl.Name)
	if err != nil || st.Node("a").Interface("eth0").Auto[0].String() != sub+".4/24" {
		t.Errorf("the saved lab does not know a's address: %v", err)
	}
	rep, err := lab.Check(context.Background(), st, check.Options{})
	if err != nil || rep.Failed > 0 {
		t.Errorf("check: %v, %d failed", err, rep.Failed)
	}
}
