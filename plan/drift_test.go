package plan

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nslab/nslab/kernel"
	"github.com/nslab/nslab/topology"
)

// observedNode is the state of a node of seed as nslab makes it.
func observedNode(addr string, routes ...kernel.Route) *kernel.NodeState {
	return &kernel.NodeState{
		Links:   map[string]*kernel.LinkState{"lo": {Up: true, MTU: 65536}, "eth0": {Up: true, MTU: 1500}},
		Addrs:   map[string][]netip.Prefix{"eth0": {netip.MustParsePrefix(addr)}},
		Routes:  routes,
		Sysctls: map[string]string{"net.ipv4.ip_forward": "0", "net.ipv6.conf.all.forwarding": "0", "net.ipv6.conf.all.accept_dad": "0", "net.ipv6.conf.default.accept_dad": "0", "net.ipv6.conf.default.router_solicitations": "0"},
	}
}

// TestReconcileDrift: what the kernel shows otherwise than the file is
// put back; what is not nslab's stays; faults in force are kept.
func TestReconcileDrift(t *testing.T) {
	l := parse(t, seed)
	nslabRoute := kernel.Route{To: netip.MustParsePrefix("10.9.0.0/16"), Via: netip.MustParseAddr("10.0.0.1"), Dev: "eth0"}
	st := running(t, l)
	st.Nodes = map[string]*kernel.NodeState{
		"seed.ns1": observedNode("10.0.0.2/24"),
		"seed.ns2": observedNode("10.0.0.3/24", nslabRoute),
	}
	if p, err := Reconcile(l, l, st); err != nil || !p.Empty() {
		t.Fatalf("a lab as nslab made it: %v\n%s", err, script(t, p))
	}

	br := BridgeName("seed", "br-ns")
	st.Links[br].Up = false
	ns1, ns2 := st.Nodes["seed.ns1"], st.Nodes["seed.ns2"]
	ns1.Addrs["eth0"] = []netip.Prefix{netip.MustParsePrefix("10.0.0.99/24")} // someone's
	ns1.Links["eth0"].MTU = 1300
	ns1.Sysctls["net.ipv6.conf.all.accept_dad"] = "1"
	ns1.Routes = []kernel.Route{{To: netip.MustParsePrefix("10.8.0.0/16"), Via: netip.MustParseAddr("10.0.0.1"), Dev: "eth0"}}
	ns2.Routes = nil
	ns2.Links["eth0"].Up = false
	p, err := Reconcile(l, l, st)
	if err != nil {
		t.Fatal(err)
	}
	s := script(t, p)
	for _, want := range []string{
		"ip link set " + br + " up",
		"ip -n seed.ns1 addr add 10.0.0.2/24 dev eth0",
		"ip -n seed.ns1 link set eth0 mtu 1500",
		"sysctl -qw net.ipv6.conf.all.accept_dad=0",
		"ip -n seed.ns1 route del 10.8.0.0/16 via 10.0.0.1 dev eth0 proto 78",
		"ip -n seed.ns2 link set eth0 up",
		"ip -n seed.ns2 route replace 10.9.0.0/16 via 10.0.0.1 proto 78",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("plan lacks %q:\n%s", want, s)
		}
	}
	if strings.Contains(s, "10.0.0.99") {
		t.Errorf("plan removes an address the file never had:\n%s", s)
	}

	// ns2's cable cut: its far end, the bridge port, stays down.
	st = running(t, l)
	st.Nodes = map[string]*kernel.NodeState{"seed.ns2": observedNode("10.0.0.3/24", nslabRoute)}
	port := PortName("seed", "ns2", "eth0")
	st.Links[port].Up = false
	f := &Faults{}
	f.SetCut("ns2", "eth0", false)
	if p, err := Reconcile(l, l, st, Hints{Faults: f}); err != nil || !p.Empty() {
		t.Errorf("a cut in force: %v\n%s", err, script(t, p))
	}
	if p, _ := Reconcile(l, l, st); !strings.Contains(script(t, p), "ip link set "+port+" up") {
		t.Errorf("with no cut recorded, the port stays down:\n%s", script(t, p))
	}
}

// TestReconcileDriftCutCable: a node-to-node cable cut at a:eth0 holds
// b's end down; b's route through it, which the kernel removed, comes
// back with the join, not with a repair.
func TestReconcileDriftCutCable(t *testing.T) {
	l := parse(t, `name: c
nodes:
  a:
    interfaces:
      eth0: {link: b:eth0, addresses: [10.1.0.1/30]}
  b:
    routes: [{to: 10.2.0.0/16, via: 10.1.0.1}]
    interfaces:
      eth0: {addresses: [10.1.0.2/30]}
`)
	st := running(t, l)
	a, b := observedNode("10.1.0.1/30"), observedNode("10.1.0.2/30")
	b.Links["eth0"].Up = false
	st.Nodes = map[string]*kernel.NodeState{"c.a": a, "c.b": b}
	f := &Faults{}
	f.SetCut("a", "eth0", false)
	if p, err := Reconcile(l, l, st, Hints{Faults: f}); err != nil || !p.Empty() {
		t.Errorf("a cut in force: %v\n%s", err, script(t, p))
	}
	f.SetCut("a", "eth0", true)
	p, _ := Reconcile(l, l, st, Hints{Faults: f})
	for _, want := range []string{"ip -n c.b link set eth0 up", "ip -n c.b route replace 10.2.0.0/16 via 10.1.0.1 proto 78"} {
		if !strings.Contains(script(t, p), want) {
			t.Errorf("no cut: plan lacks %q:\n%s", want, script(t, p))
		}
	}
}

// TestReconcilePartitionOnRemadeNode: a node made anew (one of its
// sysctls left the file) while a partition is in force gets its
// partition table again; the record would list a partition that the new
// namespace lacks.
func TestReconcilePartitionOnRemadeNode(t *testing.T) {
	src := `name: pr
bridges:
  br0: {addresses: [10.1.0.254/24]}
nodes:
  a:
    sysctls: {net.ipv4.ip_default_ttl: 32}
    interfaces:
      eth0: {link: br0, addresses: [10.1.0.1/24]}
  b:
    interfaces:
      eth0: {link: br0, addresses: [10.1.0.2/24]}
`
	old := parse(t, src)
	now := parse(t, strings.Replace(src, "    sysctls: {net.ipv4.ip_default_ttl: 32}\n", "", 1))
	st := running(t, old)
	f := &Faults{Partition: [][]string{{"a"}, {"b"}}}
	p, err := Reconcile(old, now, st, Hints{Faults: f})
	if err != nil {
		t.Fatal(err)
	}
	got := script(t, p)
	if !strings.Contains(got, "ip netns add pr.a") {
		t.Fatalf("node a is not made anew:\n%s", got)
	}
	if want := "ip netns exec pr.a nft"; !strings.Contains(got, want) || strings.Contains(got, "nft delete table inet nslab-partition") {
		t.Errorf("the partition is not put back in the remade node a (want %q):\n%s", want, got)
	}
	// Without a partition in force, nothing of it is planned.
	if p, _ := Reconcile(old, now, st, Hints{}); strings.Contains(script(t, p), "nslab-partition") {
		t.Errorf("a partition planned where none is in force:\n%s", script(t, p))
	}
}

// TestReconcileKeepsRuntimeShape: a change of the file's shape of a
// cable that holds a shape set at runtime (Faults.Shapes) leaves the
// runtime shape in place (heal puts back the file's); without one, the
// file's new shape is planned. Faults.Describe lists it, and Prune
// forgets it once its cable is made anew.
func TestReconcileKeepsRuntimeShape(t *testing.T) {
	src := `name: rs
nodes:
  a:
    interfaces:
      eth0: {link: b:eth0, addresses: [10.1.0.1/30], shape: {rate: 20mbit}}
  b:
    interfaces:
      eth0: {addresses: [10.1.0.2/30]}
`
	old := parse(t, src)
	now := parse(t, strings.Replace(src, "20mbit", "10mbit", 1))
	st := running(t, old)
	f := &Faults{}
	f.SetShape(now, "a", "eth0", &topology.Shape{Rate: 5_000_000})
	// Set again on the other end of the same cable: it replaces the first.
	f.SetShape(now, "b", "eth0", &topology.Shape{Rate: 5_000_000, Delay: 20 * time.Millisecond})
	if got, want := f.Describe(nil), []string{"shape b:eth0 rate 5mbit, delay 20ms"}; !slices.Equal(got, want) {
		t.Errorf("Describe: %q, want %q", got, want)
	}
	p, err := Reconcile(old, now, st, Hints{Faults: f})
	if err != nil {
		t.Fatal(err)
	}
	if got := script(t, p); strings.Contains(got, "tbf") {
		t.Errorf("the runtime shape is replaced by the file's:\n%s", got)
	}
	p, _ = Reconcile(old, now, st, Hints{})
	if got := script(t, p); !strings.Contains(got, "rate 10mbit") {
		t.Errorf("without a runtime shape, the file's new shape is not planned:\n%s", got)
	}
	f.Prune(now, &Plan{Made: now})
	if !f.Empty() {
		t.Errorf("a cable made anew keeps its runtime shape: %+v", f)
	}
}

// TestReconcilePortDetached: a bridge port taken off its bridge by hand
// (ip link set PORT nomaster), or put on another bridge, is attached
// again; before, up and up --repair left it off and status showed no
// drift (by hand: 17 of 59 pairs failed after up --repair).
func TestReconcilePortDetached(t *testing.T) {
	l := parse(t, seed)
	st := running(t, l)
	br := BridgeName("seed", "br-ns")
	p1, p2 := PortName("seed", "ns1", "eth0"), PortName("seed", "ns2", "eth0")
	if st.Links[p1].Master == 0 || st.Links[p1].Master != st.Links[br].Index {
		t.Fatalf("the running lab's port %s is not on %s: %+v", p1, br, st.Links[p1])
	}
	st.Links[p1].Master = 0                        // nomaster
	st.Links[p2].Master = st.Links[br].Index + 100 // another bridge
	p, err := Reconcile(l, l, st)
	if err != nil {
		t.Fatal(err)
	}
	s := script(t, p)
	for _, want := range []string{"ip link set " + p1 + " master " + br, "ip link set " + p2 + " master " + br} {
		if !strings.Contains(s, want) {
			t.Errorf("plan lacks %q:\n%s", want, s)
		}
	}
}
