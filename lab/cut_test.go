package lab_test

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/nslab/nslab/check"
	"github.com/nslab/nslab/kernel"
	"github.com/nslab/nslab/lab"
	"github.com/nslab/nslab/nslabtest"
	"github.com/nslab/nslab/plan"
	"github.com/nslab/nslab/topology"
)

// TestCut cuts and joins again a node-to-node cable and a bridge port of
// a running dual-stack lab: while cut, nothing crosses; joined, both
// families answer at once, with the addresses and routes of both ends as
// the file has them.
func TestCut(t *testing.T) {
	sub := nslabtest.Subnet(t) // SUB.0/30 the cable, SUB.128/25 the bridge
	v6 := "fd10:" + strings.ReplaceAll(strings.TrimPrefix(sub, "10."), ".", ":")
	tl := up(t, strings.NewReplacer("SUB", sub, "V6", v6).Replace(`
bridges:
  br0: {addresses: [SUB.129/25]}
nodes:
  a:
    interfaces:
      eth0: {link: b:eth0, addresses: [SUB.1/30, "V6::1/126"]}
      eth1: {link: br0, addresses: [SUB.130/25]}
  b:
    routes:
      - {to: SUB.128/25, via: SUB.1}
    interfaces:
      eth0: {addresses: [SUB.2/30, "V6::2/126"]}
`))
	cut := func(node, iface string, up bool) {
		t.Helper()
		if err := lab.Cut(context.Background(), tl.Name, node, iface, up, lab.Options{}); err != nil {
			t.Fatalf("cut %s:%s (up %v): %v", node, iface, up, err)
		}
	}
	addrs := func(node string) string {
		return nslabtest.IP(t, "-n", plan.NetnsName(tl.Name, node), "-br", "addr", "show", "eth0")
	}
	cable := []string{sub + ".2", v6 + "::2"}
	expectPing(t, tl, "before", "a", true, cable...)
	bAddrs := addrs("b")

	cut("a", "eth0", false)
	expectPing(t, tl, "cut", "a", false, cable...)
	for _, a := range []string{sub + ".2/30", v6 + "::2/126"} {
		if got := addrs("b"); !strings.Contains(got, a) {
			t.Errorf("b's far end lost %s while cut: %s", a, got)
		}
	}
	cut("a", "eth0", true)
	expectPing(t, tl, "joined", "a", true, cable...)
	expectPing(t, tl, "joined, through a", "b", true, sub+".130") // a's eth1: b's route via a is back
	if got := nslabtest.IP(t, "-n", plan.NetnsName(tl.Name, "b"), "route", "show", sub+".128/25"); !strings.Contains(got, "via "+sub+".1") {
		t.Errorf("b's route after joining: %q", got)
	}
	if got := addrs("b"); strings.Join(strings.Fields(got)[2:], " ") != strings.Join(strings.Fields(bAddrs)[2:], " ") {
		t.Errorf("b's addresses after joining: %s, want %s", got, bAddrs)
	}

	// A bridge port: its root end goes down, a's eth1 loses carrier.
	cut("a", "eth1", false)
	expectPing(t, tl, "port cut", "a", false, sub+".129")
	cut("a", "eth1", true)
	expectPing(t, tl, "port joined", "a", true, sub+".129")

	// Wrong names say what there is.
	err := lab.Cut(context.Background(), tl.Name, "a", "eth9", false, lab.Options{})
	if err == nil || !strings.Contains(err.Error(), "has no interface eth9") {
		t.Errorf("cut a:eth9: %v", err)
	}
}

// expectPing pings addrs from node from of lab tl (500ms each) and fails
// the test for each answer that is not as ok says.
func expectPing(t *testing.T, tl *topology.Lab, when, from string, ok bool, addrs ...string) {
	t.Helper()
	var ts []check.Target
	for _, a := range addrs {
		ts = append(ts, check.Target{Addr: netip.MustParseAddr(a)})
	}
	for _, r := range check.Ping(context.Background(), kernel.NetnsPath(plan.NetnsName(tl.Name, from)), ts, check.Options{Timeout: 500 * time.Millisecond}) {
		if r.OK != ok {
			t.Errorf("%s: %s -> %s: ok %v (%s), want %v", when, from, r.Target.Addr, r.OK, r.Err, ok)
		}
	}
}

// TestCutPlan shows what a cut does as ip commands, per kind of cable.
func TestCutPlan(t *testing.T) {
	tl, err := topology.Parse("c.yaml", []byte(`name: c
bridges: {br0: {}}
nodes:
  a:
    interfaces:
      eth0: {link: b:eth0}
      eth1: {link: br0}
  b:
    routes: [{to: 0.0.0.0/0, dev: eth0}]
    interfaces: {eth0: {}}
`))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		node, iface string
		up          bool
		want        string
	}{
		{"a", "eth0", false, "ip netns exec c.b sysctl -qw net.ipv6.conf.eth0.keep_addr_on_down=1\nip -n c.b link set eth0 down\n"},
		{"b", "eth0", false, "ip netns exec c.a sysctl -qw net.ipv6.conf.eth0.keep_addr_on_down=1\nip -n c.a link set eth0 down\n"},
		{"a", "eth0", true, "ip -n c.b link set eth0 up\nip -n c.a neigh flush dev eth0\nip -n c.b neigh flush dev eth0\nip -n c.b route replace default dev eth0 proto 78\n"},
		{"a", "eth1", false, "ip link set " + plan.PortName("c", "a", "eth1") + " down\n"},
	} {
		p, err := plan.Cut(tl, c.node, c.iface, c.up)
		if err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		for _, s := range p.Stages {
			for _, o := range s.Ops {
				fmt.Fprintln(&b, o)
			}
		}
		if b.String() != c.want {
			t.Errorf("%s:%s up %v:\n%s\nwant\n%s", c.node, c.iface, c.up, b.String(), c.want)
		}
	}
}
