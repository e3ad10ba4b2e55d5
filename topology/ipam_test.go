package topology

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const ipamLab = `name: ipam
addressing:
  pool: [10.128.0.0/16, fd10:80::/48]
bridges:
  lan:
    subnets: [10.1.0.0/24, fd10:1::/64]
    gateway: true
  dmz: {}
nodes:
  a:
    interfaces:
      eth0: {link: lan}
      eth1: {link: b:eth1}
  b:
    interfaces:
      eth0: {link: lan, addresses: [10.1.0.9/24]}
      eth1: {link: a:eth1, subnets: [10.9.0.0/31]}
      eth2: {link: dmz}
  c:
    interfaces:
      eth0: {link: lan}
`

func TestAssign(t *testing.T) {
	l, err := Parse("ipam.yaml", []byte(ipamLab))
	if err != nil {
		t.Fatal(err)
	}
	want := strings.Join([]string{
		"a:eth0 10.1.0.2/24,fd10:1::2/64",
		"a:eth1 10.9.0.0/31,fd10:80:0:1::/127", // the cable's IPv6 subnet: the pool's next /127
		"b:eth0 fd10:1::3/64",                  // b has its own IPv4 address
		"b:eth1 10.9.0.1/31,fd10:80:0:1::1/127",
		"b:eth2 10.128.0.2/24,fd10:80::2/64", // dmz: a /24 and a /64 of the pool, .1 kept for a gateway
		"bridge lan 10.1.0.1/24,fd10:1::1/64",
		"c:eth0 10.1.0.3/24,fd10:1::4/64",
	}, "\n")
	if d := cmp.Diff(want, l.Assignments().String()); d != "" {
		t.Errorf("assignments (-want +got):\n%s", d)
	}
	if got := l.Bridge("lan").Subnets; len(got) != 2 {
		t.Errorf("lan's subnets: %v", got)
	}

	// The same file twice: the same addresses.
	again, _ := Parse("ipam.yaml", []byte(ipamLab))
	if d := cmp.Diff(l.Assignments().String(), again.Assignments().String()); d != "" {
		t.Errorf("a second parse assigns otherwise:\n%s", d)
	}

	// A node that sorts first joins: with the prior assignments, no one
	// moves, and the newcomer takes the first free address.
	more := ipamLab + "  a0:\n    interfaces:\n      eth0: {link: lan}\n"
	fresh, err := Parse("ipam.yaml", []byte(more))
	if err != nil {
		t.Fatal(err)
	}
	if fresh.Node("a").Interface("eth0").Auto[0].String() == "10.1.0.2/24" {
		t.Errorf("without prior assignments a0 should take a's place: the test proves nothing")
	}
	kept, err := ParseWith("ipam.yaml", []byte(more), l.Assignments())
	if err != nil {
		t.Fatal(err)
	}
	for member, addrs := range l.Assignments() {
		if before, after := fmt.Sprint(addrs), fmt.Sprint(kept.Assignments()[member]); before != after {
			t.Errorf("%s moved from %s to %s", member, before, after)
		}
	}
	if got := kept.Node("a0").Interface("eth0").Auto; len(got) != 2 || got[0].String() != "10.1.0.4/24" || got[1].String() != "fd10:1::5/64" {
		t.Errorf("a0 got %v, want the first free addresses 10.1.0.4 and fd10:1::5", got)
	}
}

// TestAutoRoutes: routing: auto adds shortest-path routes, and a route the
// file writes wins over the one nslab would add.
func TestAutoRoutes(t *testing.T) {
	src := `name: line
routing: auto
addressing: {pool: [10.60.0.0/16]}
bridges: {lan1: {}, lan3: {}}
nodes:
  r1: {router: true, interfaces: {lan: {link: lan1}, east: {link: r2:west}}}
  r2: {router: true, interfaces: {west: {link: r1:east}, east: {link: r3:west}}}
  r3:
    router: true
    routes: [{to: 10.60.0.0/24, via: 10.60.1.2}]
    interfaces: {west: {link: r2:east}, lan: {link: lan3}}
  h1: {interfaces: {eth0: {link: lan1}}}
  h3: {interfaces: {eth0: {link: lan3}}}
`
	l, err := Parse("line.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	routes := func(node string) string {
		var out []string
		for _, r := range l.Node(node).Routes {
			s := r.To.String() + " via " + r.Via.String()
			if r.Auto {
				s += " (auto)"
			}
			out = append(out, s)
		}
		return strings.Join(out, "; ")
	}
	for node, want := range map[string]string{
		// h1 has one router next to it: a default route.
		"h1": "0.0.0.0/0 via 10.60.0.3 (auto)",
		// r1 reaches lan3 and the far cable through r2.
		"r1": "10.60.1.0/24 via 10.60.2.1 (auto); 10.60.2.2/31 via 10.60.2.1 (auto)",
		// r3's own route to lan1 stands; nslab adds the rest.
		"r3": "10.60.0.0/24 via 10.60.1.2; 10.60.2.0/31 via 10.60.2.2 (auto)",
	} {
		if got := routes(node); got != want {
			t.Errorf("%s: routes %q, want %q", node, got, want)
		}
	}
}
