package lab_test

import (
	"context"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nslab/nslab/check"
	"github.com/nslab/nslab/kernel"
	"github.com/nslab/nslab/lab"
	"github.com/nslab/nslab/nslabtest"
	"github.com/nslab/nslab/plan"
	"github.com/nslab/nslab/topology"
)

// needKinds skips a test on a kernel that lacks one of the interface
// kinds, with the reason, and logs which kernel the test runs on.
func needKinds(t *testing.T, kinds ...string) {
	t.Helper()
	nslabtest.RequireRoot(t)
	k := nslabtest.Kernel(t)
	for _, kind := range kinds {
		if err := kernel.IfaceSupported(kind); err != nil {
			t.Skipf("kernel %s lacks %s interfaces: %v", k, kind, err)
		}
	}
}

// upKinds brings up a lab whose name carries the branch's name.
func upKinds(t *testing.T, yaml string) *topology.Lab {
	t.Helper()
	return upNamed(t, "kinds", yaml)
}

func ns(tl *topology.Lab, node string) string { return kernel.NetnsPath(plan.NetnsName(tl.Name, node)) }

// TestMacvlan: a macvlan on a node's bridge port has a MAC of its own on
// the bridge's segment, where the other nodes reach it beside its parent.
func TestMacvlan(t *testing.T) {
	needKinds(t, "macvlan")
	sub := nslabtest.Subnet(t)
	tl := upKinds(t, strings.ReplaceAll(`
bridges:
  sw: {}
nodes:
  a:
    interfaces:
      eth0: {link: sw, addresses: [SUB.1/24]}
      mv0: {kind: macvlan, parent: eth0, addresses: [SUB.11/24]}
  b:
    interfaces:
      eth0: {link: sw, addresses: [SUB.2/24]}
`, "SUB", sub))
	expectPing(t, tl, "macvlan", "b", true, sub+".1", sub+".11")
	out := nslabtest.IP(t, "-n", plan.NetnsName(tl.Name, "a"), "-d", "link", "show", "mv0")
	if !strings.Contains(out, "macvlan mode bridge") || !strings.Contains(out, "mv0@eth0") {
		t.Errorf("mv0 as the kernel has it: %s", out)
	}
}

// TestVLANIsolation: VLANs 10 and 20 tagged on one bridge (a plain Linux
// bridge passes tagged frames) reach their own VLAN and not the other.
// c's address on VLAN 20 is routed out of b's VLAN 10 sub-interface: its
// ARP request goes out tagged 10, and nothing on VLAN 20 hears it.
func TestVLANIsolation(t *testing.T) {
	needKinds(t, "vlan")
	sub := nslabtest.Subnet(t) // SUB.0/26 VLAN 10, SUB.64/26 VLAN 20, SUB.128/26 untagged
	tl := upKinds(t, strings.ReplaceAll(`
bridges:
  trunk: {}
nodes:
  a:
    interfaces:
      eth0: {link: trunk, addresses: [SUB.129/26]}
      eth0.10: {kind: vlan, addresses: [SUB.1/26]}
      eth0.20: {kind: vlan, addresses: [SUB.65/26]}
  b:
    interfaces:
      eth0: {link: trunk}
      eth0.10: {kind: vlan, addresses: [SUB.2/26]}
    routes: [{to: SUB.66/32, dev: eth0.10}]
  c:
    interfaces:
      eth0: {link: trunk}
      eth0.20: {kind: vlan, addresses: [SUB.66/26]}
`, "SUB", sub))
	expectPing(t, tl, "VLAN 10", "b", true, sub+".1")
	expectPing(t, tl, "VLAN 20", "c", true, sub+".65")
	expectPing(t, tl, "VLAN 10 to VLAN 20", "b", false, sub+".66")
	expectPing(t, tl, "VLAN 20 to a's VLAN 10", "c", false, sub+".1")
	out := nslabtest.IP(t, "-n", plan.NetnsName(tl.Name, "b"), "-d", "link", "show", "eth0.10")
	if !strings.Contains(out, "vlan protocol 802.1Q id 10") {
		t.Errorf("b's eth0.10 as the kernel has it: %s", out)
	}
}

// pingStream pings to from a node every interval until stop closes and
// returns the longest time between two answers, and how many of the
// probes were answered.
func pingStream(ctx context.Context, nsPath string, to netip.Addr, interval time.Duration) (gap time.Duration, ok, sent int) {
	last := time.Now()
	for ctx.Err() == nil {
		start := time.Now()
		r := check.Ping(context.Background(), nsPath, []check.Target{{Addr: to}}, check.Options{Timeout: interval})
		sent++
		if len(r) == 1 && r[0].OK {
			ok++
			now := time.Now()
			gap = max(gap, now.Sub(last))
			last = now
		}
		if d := interval - time.Since(start); d > 0 {
			time.Sleep(d)
		}
	}
	return gap, ok, sent
}

// TestBondActiveBackupFailover: a server on two switches (joined by a
// trunk) over an active-backup bond keeps answering a ping stream and
// keeps a TCP connection when nslab link down cuts its active member's
// cable; the gap is measured.
func TestBondActiveBackupFailover(t *testing.T) {
	needKinds(t, "bond")
	sub := nslabtest.Subnet(t)
	tl := upKinds(t, strings.ReplaceAll(`
bridges:
  sw1: {}
  sw2: {link: sw1}
nodes:
  srv:
    interfaces:
      eth0: {link: sw1}
      eth1: {link: sw2}
      bond0: {kind: bond, mode: active-backup, members: [eth0, eth1], primary: eth0, miimon: 10ms, addresses: [SUB.10/24]}
  cli:
    interfaces:
      eth0: {link: sw1, addresses: [SUB.20/24]}
`, "SUB", sub))
	srv := netip.MustParseAddr(sub + ".10")
	expectPing(t, tl, "before", "cli", true, srv.String())
	active := func() string {
		out, _ := exec.Command("ip", "netns", "exec", plan.NetnsName(tl.Name, "srv"), "cat", "/proc/net/bonding/bond0").CombinedOutput()
		for _, l := range strings.Split(string(out), "\n") {
			if v, ok := strings.CutPrefix(l, "Currently Active Slave: "); ok {
				return v
			}
		}
		return "? " + string(out)
	}
	if a := active(); a != "eth0" {
		t.Fatalf("active member before the cut: %s, want eth0 (the primary)", a)
	}
	// A TCP connection open across the cut.
	var ln net.Listener
	if err := kernel.Do(ns(tl, "srv"), func() (err error) { ln, err = net.Listen("tcp", srv.String()+":0"); return err }); err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var conn net.Conn
	if err := kernel.Do(ns(tl, "cli"), func() (err error) {
		conn, err = net.DialTimeout("tcp", ln.Addr().String(), 2*time.Second)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	peer, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()

	ctx, stop := context.WithCancel(context.Background())
	type res struct {
		gap      time.Duration
		ok, sent int
	}
	done := make(chan res)
	go func() {
		g, ok, sent := pingStream(ctx, ns(tl, "cli"), srv, 10*time.Millisecond)
		done <- res{g, ok, sent}
	}()
	time.Sleep(500 * time.Millisecond)
	cutAt := time.Now()
	if err := lab.Cut(context.Background(), tl.Name, "srv", "eth0", false, lab.Options{}); err != nil {
		t.Fatalf("link down srv:eth0: %v", err)
	}
	time.Sleep(1500 * time.Millisecond)
	stop()
	r := <-done
	t.Logf("active-backup failover on link down of the active member: longest gap between answers %v (miimon 10ms), %d of %d pings answered over the %v around it",
		r.gap.Round(time.Millisecond), r.ok, r.sent, time.Since(cutAt).Round(time.Millisecond)+500*time.Millisecond)
	if a := active(); a != "eth1" {
		t.Errorf("active member after the cut: %s, want eth1", a)
	}
	if r.gap > time.Second {
		t.Errorf("the ping stream stopped for %v across the failover", r.gap)
	}
	expectPing(t, tl, "after the cut", "cli", true, srv.String())
	// The connection carries data both ways after the failover.
	conn.SetDeadline(time.Now().Add(3 * time.Second))
	peer.SetDeadline(time.Now().Add(3 * time.Second))
	if _, err := conn.Write([]byte("after the cut\n")); err != nil {
		t.Fatalf("write after the cut: %v", err)
	}
	buf := make([]byte, 14)
	if _, err := io.ReadFull(peer, buf); err != nil || string(buf) != "after the cut\n" {
		t.Fatalf("the server read %q, %v", buf, err)
	}
	// Joined again, the primary takes over again.
	if err := lab.Cut(context.Background(), tl.Name, "srv", "eth0", true, lab.Options{}); err != nil {
		t.Fatalf("link up srv:eth0: %v", err)
	}
	deadline := time.Now().Add(3 * time.Second)
	for active() != "eth0" && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if a := active(); a != "eth0" {
		t.Errorf("active member after link up: %s, want eth0 (the primary)", a)
	}
	expectPing(t, tl, "after link up", "cli", true, srv.String())
}

// TestBond8023ad: two nodes bond two cables straight between them with
// LACP; both members join one aggregator on each side, and traffic keeps
// flowing when one cable is cut.
func TestBond8023ad(t *testing.T) {
	needKinds(t, "bond")
	sub := nslabtest.Subnet(t)
	tl := upKinds(t, strings.ReplaceAll(`
nodes:
  a:
    interfaces:
      eth0: {link: b:eth0}
      eth1: {link: b:eth1}
      bond0: {kind: bond, mode: 802.3ad, lacp-rate: fast, miimon: 10ms, members: [eth0, eth1], addresses: [SUB.1/30]}
  b:
    interfaces:
      eth0: {}
      eth1: {}
      bond0: {kind: bond, mode: 802.3ad, lacp-rate: fast, miimon: 10ms, members: [eth0, eth1], addresses: [SUB.2/30]}
`, "SUB", sub))
	bonding := func(node string) string {
		out, _ := exec.Command("ip", "netns", "exec", plan.NetnsName(tl.Name, node), "cat", "/proc/net/bonding/bond0").CombinedOutput()
		return string(out)
	}
	// LACP needs a few LACPDUs each way to agree (fast: one a second),
	// and the ports then to reach collecting and distributing.
	deadline := time.Now().Add(15 * time.Second)
	start := time.Now()
	peer := []check.Target{{Addr: netip.MustParseAddr(sub + ".2")}}
	for time.Now().Before(deadline) {
		if strings.Contains(bonding("a"), "Number of ports: 2") && strings.Contains(bonding("b"), "Number of ports: 2") {
			if r := check.Ping(context.Background(), ns(tl, "a"), peer, check.Options{Timeout: 200 * time.Millisecond}); r[0].OK {
				break
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, n := range []string{"a", "b"} {
		if out := bonding(n); !strings.Contains(out, "Number of ports: 2") || !strings.Contains(out, "IEEE 802.3ad Dynamic link aggregation") {
			t.Fatalf("%s's bond0 did not aggregate both members:\n%s", n, out)
		}
	}
	t.Logf("LACP aggregated both members on both sides, and a answered, %v after up", time.Since(start).Round(10*time.Millisecond))
	expectPing(t, tl, "aggregated", "a", true, sub+".2")
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan time.Duration)
	go func() {
		g, _, _ := pingStream(ctx, ns(tl, "a"), netip.MustParseAddr(sub+".2"), 10*time.Millisecond)
		done <- g
	}()
	time.Sleep(300 * time.Millisecond)
	if err := lab.Cut(context.Background(), tl.Name, "a", "eth0", false, lab.Options{}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(3500 * time.Millisecond)
	stop()
	gap := <-done
	t.Logf("802.3ad: longest gap between answers across the cut of one member: %v", gap.Round(time.Millisecond))
	// The bound is LACP's: with lacp-rate fast a partner is given up
	// after 3 LACPDUs missed (3 s); a cut right after the bond formed can
	// meet an aggregator reselection (1.36 s seen once in the VM, 0.25-0.54 s
	// otherwise).
	if gap > 3*time.Second {
		t.Errorf("the ping stream stopped for %v across the cut, longer than LACP's 3 s timeout", gap)
	}
	expectPing(t, tl, "one member cut", "a", true, sub+".2")
}

// TestVRFLite: a PE router keeps two customers apart in two vrfs that use
// the same subnet on their first site; each reaches its own second site
// (and a prefix behind it, by a route of the vrf) and not the other's.
func TestVRFLite(t *testing.T) {
	needKinds(t, "vrf", "dummy")
	sub := nslabtest.Subnet(t) // SUB.0/26 both vrfs' first site, SUB.64/26 red's second, SUB.128/26 blue's second, SUB.192/32 behind red's
	tl := upKinds(t, strings.ReplaceAll(`
nodes:
  pe:
    router: true
    interfaces:
      r1: {link: ra:eth0, addresses: [SUB.1/26]}
      r2: {link: rb:eth0, addresses: [SUB.65/26]}
      b1: {link: ba:eth0, addresses: [SUB.1/26]}
      b2: {link: bb:eth0, addresses: [SUB.129/26]}
      red: {kind: vrf, table: 10, members: [r1, r2]}
      blue: {kind: vrf, table: 20, members: [b1, b2]}
    routes:
      - {to: SUB.192/32, via: SUB.66, vrf: red}
  ra:
    interfaces: {eth0: {addresses: [SUB.2/26]}}
    routes: [{to: default, via: SUB.1}]
  ba:
    interfaces: {eth0: {addresses: [SUB.2/26]}}
    routes: [{to: default, via: SUB.1}]
  rb:
    interfaces:
      eth0: {addresses: [SUB.66/26]}
      lo0: {kind: dummy, addresses: [SUB.192/32]}
    routes: [{to: default, via: SUB.65}]
  bb:
    interfaces: {eth0: {addresses: [SUB.130/26]}}
    routes: [{to: default, via: SUB.129}]
`, "SUB", sub))
	expectPing(t, tl, "red", "ra", true, sub+".1", sub+".66", sub+".192")
	expectPing(t, tl, "blue", "ba", true, sub+".1", sub+".130")
	expectPing(t, tl, "red to blue", "ra", false, sub+".130")
	expectPing(t, tl, "blue to red", "ba", false, sub+".66", sub+".192")
	out := nslabtest.IP(t, "-n", plan.NetnsName(tl.Name, "pe"), "route", "show", "vrf", "red")
	if !strings.Contains(out, sub+".192 via "+sub+".66") {
		t.Errorf("red's table: %s", out)
	}
	// nslab check probes every vrf from inside it (pe@red, pe@blue).
	rep, err := lab.Check(context.Background(), tl, check.Options{})
	if err != nil {
		t.Fatal(err)
	}
	fromVRF := 0
	for _, p := range rep.Probes {
		if !p.OK {
			t.Errorf("check: %s -> %s (%s on %s): %s", p.From, p.To, p.ToDev, p.ToNode, p.Err)
		}
		if strings.HasPrefix(p.From, "pe@") && p.OK {
			fromVRF++
		}
	}
	t.Logf("check: %d probes, %d passed, %d failed; %d from inside pe's vrfs", len(rep.Probes), rep.Passed, rep.Failed, fromVRF)
	if fromVRF == 0 {
		t.Errorf("check probed nothing from inside pe's vrfs")
	}
}

// TestKindsExamples brings up examples/bonded-server.yaml and
// examples/vrf-lite.yaml as a new user would, and checks them with nslab
// check; the bonded server again with its active member's cable cut.
func TestKindsExamples(t *testing.T) {
	needKinds(t, "bond", "vrf", "dummy", "vlan")
	if err := kernel.BridgeVLANSupported(); err != nil {
		t.Skipf("kernel %s lacks bridge VLAN filtering (router-on-a-stick.yaml): %v", nslabtest.Kernel(t), err)
	}
	for _, c := range []struct {
		file string
		cut  string
	}{{"seed.yaml", ""}, {"bonded-server.yaml", "server:eth0"}, {"vrf-lite.yaml", ""}, {"router-on-a-stick.yaml", ""}} {
		t.Run(c.file, func(t *testing.T) {
			src, err := os.ReadFile("../examples/" + c.file)
			if err != nil {
				t.Fatal(err)
			}
			// The lab's own name, and the file's text otherwise.
			var kept []string
			for _, l := range strings.Split(string(src), "\n") {
				if !strings.HasPrefix(l, "name: ") {
					kept = append(kept, l)
				}
			}
			tl := upKinds(t, strings.Join(kept, "\n"))
			checkAll := func(when string) {
				t.Helper()
				rep, err := lab.Check(context.Background(), tl, check.Options{})
				if err != nil {
					t.Fatal(err)
				}
				for _, p := range rep.Probes {
					if !p.OK && p.Fault == "" {
						t.Errorf("%s: %s -> %s (%s on %s): %s", when, p.From, p.To, p.ToDev, p.ToNode, p.Err)
					}
				}
				t.Logf("%s: check: %d probes, %d passed, %d failed", when, len(rep.Probes), rep.Passed, rep.Failed)
			}
			checkAll("up")
			if c.cut == "" {
				return
			}
			node, iface, _ := strings.Cut(c.cut, ":")
			if err := lab.Cut(context.Background(), tl.Name, node, iface, false, lab.Options{}); err != nil {
				t.Fatal(err)
			}
			time.Sleep(200 * time.Millisecond) // miimon 50ms
			checkAll("link down " + c.cut)
			st, err := lab.GetStatus(tl.Name)
			if err != nil {
				t.Fatal(err)
			}
			for _, n := range st.Nodes {
				for _, i := range n.Interfaces {
					if n.Name == "server" && i.Name == "bond0" && i.Active != "eth1" {
						t.Errorf("status of bond0 after the cut: active %q, want eth1 (%+v)", i.Active, i)
					}
					if n.Name == "server" && i.Name == "eth1" && i.Master != "bond0" {
						t.Errorf("status of eth1: master %q, want bond0", i.Master)
					}
				}
			}
		})
	}
}

// TestReconcileKindsLive changes the interfaces made inside a running
// lab's nodes: a macvlan added to one node, another's mode changed, then
// removed; the nodes keep their namespaces and cables, and the node whose
// interfaces did not change is not touched at all.
func TestReconcileKindsLive(t *testing.T) {
	needKinds(t, "macvlan")
	sub := nslabtest.Subnet(t)
	base := strings.ReplaceAll(`
bridges:
  sw: {}
nodes:
  a:
    interfaces:
      eth0: {link: sw, addresses: [SUB.1/24]}
      mv0: {kind: macvlan, parent: eth0, addresses: [SUB.11/24]}
  b:
    interfaces:
      eth0: {link: sw, addresses: [SUB.2/24]}
  c:
    interfaces:
      eth0: {link: sw, addresses: [SUB.3/24]}
`, "SUB", sub)
	tl := upKinds(t, base)
	// The index from stdout alone: ip may warn on stderr ("Error: Peer
	// netns reference is invalid.") about a veth's peer in another
	// namespace.
	ifindex := func(node, dev string) string {
		out, err := exec.Command("ip", "-n", plan.NetnsName(tl.Name, node), "-o", "link", "show", dev).Output()
		if err != nil {
			t.Fatalf("ip link show %s in %s: %v", dev, node, err)
		}
		return strings.SplitN(string(out), ":", 2)[0]
	}
	inode := func(node string) uint64 {
		var st syscall.Stat_t
		if err := syscall.Stat(ns(tl, node), &st); err != nil {
			t.Fatal(err)
		}
		return st.Ino
	}
	before := map[string]string{"a:eth0": ifindex("a", "eth0"), "b:eth0": ifindex("b", "eth0"), "c:eth0": ifindex("c", "eth0")}
	inodes := map[string]uint64{"a": inode("a"), "b": inode("b"), "c": inode("c")}
	reup := func(src string) {
		t.Helper()
		nt, err := topology.Parse(tl.Name+".yaml", []byte("name: "+tl.Name+"\n"+src))
		if err != nil {
			t.Fatal(err)
		}
		if err := lab.Up(context.Background(), nt, []byte("name: "+tl.Name+"\n"+src), lab.Options{}); err != nil {
			t.Fatalf("up again: %v", err)
		}
	}
	changed := strings.NewReplacer(
		"mv0: {kind: macvlan, parent: eth0,", "mv0: {kind: macvlan, parent: eth0, mode: private,",
		"      eth0: {link: sw, addresses: ["+sub+".2/24]}\n", "      eth0: {link: sw, addresses: ["+sub+".2/24]}\n      mv1: {kind: macvlan, parent: eth0, addresses: ["+sub+".12/24]}\n",
	).Replace(base)
	reup(changed)
	if out := nslabtest.IP(t, "-n", plan.NetnsName(tl.Name, "a"), "-d", "link", "show", "mv0"); !strings.Contains(out, "macvlan mode private") {
		t.Errorf("a's mv0 after the change: %s", out)
	}
	expectPing(t, tl, "changed", "c", true, sub+".11", sub+".12")
	removed := strings.Replace(changed, "      mv0: {kind: macvlan, parent: eth0, mode: private, addresses: ["+sub+".11/24]}\n", "", 1)
	reup(removed)
	if out, _ := exec.Command("ip", "-n", plan.NetnsName(tl.Name, "a"), "link", "show", "mv0").CombinedOutput(); !strings.Contains(string(out), "does not exist") {
		t.Errorf("a's mv0 after its removal: %s", out)
	}
	expectPing(t, tl, "removed", "c", false, sub+".11")
	expectPing(t, tl, "kept", "c", true, sub+".12", sub+".1")
	for ref, idx := range before {
		node, dev, _ := strings.Cut(ref, ":")
		if got := ifindex(node, dev); got != idx {
			t.Errorf("%s was made anew (index %s, was %s)", ref, got, idx)
		}
	}
	for node, ino := range inodes {
		if got := inode(node); got != ino {
			t.Errorf("node %s's namespace was made anew", node)
		}
	}
}
