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
