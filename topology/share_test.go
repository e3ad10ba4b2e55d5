package topology_test

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/nslab/nslab/topology"
)

const acrossSrc = `name: across
hosts:
  h1: {local: true, address: 192.0.2.1}
  h2: {ssh: root@192.0.2.2, address: 192.0.2.2}
  h3: {ssh: h3, address: 192.0.2.3}
routing: auto
addressing: {pool: [10.77.0.0/16]}
bridges:
  lan: {gateway: true}
nodes:
  a: {host: h1, router: true, interfaces: {eth0: {link: lan}, eth1: {link: b:eth0}}}
  b: {host: h2, router: true, interfaces: {eth0: {}, eth1: {link: c:eth0}}}
  c: {host: h3, interfaces: {eth0: {}}}
  x: {host: h2, interfaces: {eth0: {link: lan}}}
  y: {host: h3, interfaces: {eth0: {link: lan, mtu: 1400}}}
`

// TestShare: each machine's share holds its nodes with the addresses and
// routes of the whole lab, cables to other machines as bridges with a
// tunnel, the spanning bridge with a tunnel to the other member machines
// and its host side on its home only; tunnels agree between machines;
// the whole lab is left as it was.
func TestShare(t *testing.T) {
	l := mustParse(t, acrossSrc)
	pl := topology.Place(l)
	before := l.Node("b").Interface("eth0").Link
	shares := map[string]*topology.Lab{}
	for _, m := range l.Machines {
		s, err := topology.Share(l, pl, m.Name)
		if err != nil {
			t.Fatal(err)
		}
		shares[m.Name] = s
	}
	if l.Node("b").Interface("eth0").Link != before {
		t.Fatal("Share changed the whole lab's interfaces")
	}
	names := func(s *topology.Lab) (nodes, bridges []string) {
		for _, n := range s.Nodes {
			nodes = append(nodes, n.Name)
		}
		for _, b := range s.Bridges {
			bridges = append(bridges, b.Name)
		}
		return
	}
	n2, b2 := names(shares["h2"])
	if diff := cmp.Diff([]string{"b", "x"}, n2); diff != "" {
		t.Errorf("h2's nodes (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"lan", "x-a.eth1-b.eth0", "x-b.eth1-c.eth0"}, b2); diff != "" {
		t.Errorf("h2's bridges (-want +got):\n%s", diff)
	}
	h2 := shares["h2"]
	lan := h2.Bridge("lan")
	if lan.Tunnel == nil || !slices.Equal(lan.Tunnel.Remotes, []netip.Addr{netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.3")}) {
		t.Errorf("lan's tunnel on h2: %+v, want remotes h1 and h3", lan.Tunnel)
	}
	if len(lan.Addresses) != 0 || lan.Gateway {
		t.Errorf("lan has its host side on h2 (%v), but its home is h1", lan.Addresses)
	}
	if home := shares["h1"].Bridge("lan"); len(home.Addresses) == 0 || !home.Gateway {
		t.Errorf("lan lost its gateway on its home h1: %v", home.Addresses)
	}
	// The tunnels of one segment agree: same VNI, each the other's remote.
	c1, c2 := shares["h1"].Bridge("x-a.eth1-b.eth0").Tunnel, h2.Bridge("x-a.eth1-b.eth0").Tunnel
	if c1.VNI != c2.VNI || c1.VNI == lan.Tunnel.VNI || c1.Local != c2.Remotes[0] || c2.Local != c1.Remotes[0] {
		t.Errorf("the tunnels of cable a:eth1 -- b:eth0 do not meet: h1 %+v, h2 %+v", c1, c2)
	}
	// b keeps its address and its routes, computed on the whole lab.
	b := h2.Node("b")
	if want, got := fmt.Sprint(l.Node("b").Routes), fmt.Sprint(b.Routes); want != got || len(b.Routes) == 0 {
		t.Errorf("b's routes in the share: %s, in the lab: %s", got, want)
	}
	e0 := b.Interface("eth0")
	if e0.Link == nil || e0.Link.Kind != topology.Port || e0.Link.Bridge.Name != "x-a.eth1-b.eth0" {
		t.Errorf("b:eth0 is not a port of its cable's bridge: %+v", e0.Link)
	}
	if e0.MTU != 1450 || !slices.Equal(e0.Addresses, l.Node("b").Interface("eth0").Addresses) {
		t.Errorf("b:eth0: mtu %d, addresses %v", e0.MTU, e0.Addresses)
	}
	// A written MTU the underlay carries stays (TestShareUnderlayMTU: one
	// it cannot is refused).
	if y := shares["h3"].Node("y").Interface("eth0"); y.MTU != 1400 {
		t.Errorf("y:eth0 mtu %d in the share, want 1400 as written", y.MTU)
	}
	// The share says which it is.
	if h2.ShareOf == nil || h2.ShareOf.Host != "h2" || len(h2.ShareOf.Placement) != 5 {
		t.Errorf("ShareOf: %+v", h2.ShareOf)
	}
}

// TestShareUnderlayMTU: the MTU of the segments between machines follows
// the underlays read on the hosts (jumbo frames carried where every host
// of the segment has them), the smallest of a segment's hosts, less 50
// bytes over IPv4 or 70 over IPv6; an MTU written larger than a segment
// carries is refused at its line with the numbers.
func TestShareUnderlayMTU(t *testing.T) {
	l := mustParse(t, acrossSrc)
	pl := topology.Place(l)
	l.SetUnderlays(map[string]topology.Underlay{"h1": {Dev: "eth0", MTU: 9000}, "h2": {Dev: "eth0", MTU: 9000}, "h3": {Dev: "ens3", MTU: 1500}})
	h2, err := topology.Share(l, pl, "h2")
	if err != nil {
		t.Fatal(err)
	}
	if m := h2.Node("b").Interface("eth0").MTU; m != 8950 {
		t.Errorf("b:eth0 (cable to a on h1, both 9000-byte underlays): mtu %d, want 8950", m)
	}
	if m := h2.Node("b").Interface("eth1").MTU; m != 1450 {
		t.Errorf("b:eth1 (cable to c on h3, a 1500-byte underlay): mtu %d, want 1450", m)
	}
	if m := h2.Node("x").Interface("eth0").MTU; m != 1450 {
		t.Errorf("x:eth0 (lan spans h1, h2, h3): mtu %d, want 1450", m)
	}
	if u := h2.ShareOf.Underlays; u["h3"].MTU != 1500 || u["h1"].Dev != "eth0" {
		t.Errorf("the share's spec carries underlays %v", u)
	}
	// The same lab re-read from the spec (as a host does) agrees.
	again := mustParse(t, acrossSrc)
	again.SetUnderlays(h2.ShareOf.Underlays)
	if s, err := topology.Share(again, pl, "h2"); err != nil || s.Node("b").Interface("eth0").MTU != 8950 {
		t.Errorf("share re-read from its spec: %v", err)
	}
	// Written too large: refused, at its line, with the numbers.
	big := mustParse(t, strings.Replace(acrossSrc, "c: {host: h3, interfaces: {eth0: {}}}", "c: {host: h3, interfaces: {eth0: {mtu: 1480}}}", 1))
	_, err = topology.Share(big, pl, "h3")
	want := "t.yaml:13:3"
	if err == nil || !strings.Contains(err.Error(), "mtu 1480 of c:eth0 is too large for the cable b:eth1 -- c:eth0") ||
		!strings.Contains(err.Error(), "h2: 1500 (assumed), h3: 1500 (assumed)") || !strings.Contains(err.Error(), "VXLAN over IPv4 takes 50 bytes") ||
		!strings.Contains(err.Error(), "so at most 1450") {
		t.Errorf("mtu 1480 on a cable between machines over 1500-byte underlays: %v, want it refused at %s with the numbers", err, want)
	}
	// An IPv6 underlay takes 70 bytes.
	six := mustParse(t, strings.NewReplacer("192.0.2.1", "2001:db8::1", "192.0.2.2", "2001:db8::2", "192.0.2.3", "2001:db8::3").Replace(acrossSrc))
	s6, err := topology.Share(six, topology.Place(six), "h2")
	if err != nil {
		t.Fatal(err)
	}
	if m := s6.Node("b").Interface("eth0").MTU; m != 1430 {
		t.Errorf("b:eth0 over an IPv6 underlay of 1500: mtu %d, want 1430", m)
	}
}

// TestShareHomeOfPublisher: a bridge whose node on h2 publishes ports
// keeps its host side (and NAT) on h2, where the ports open, though a
// member on h1 comes first by name; two publishers of one bridge on two
// hosts are refused, at the node.
func TestShareHomeOfPublisher(t *testing.T) {
	src := `name: pub
hosts:
  h1: {ssh: h1, address: 192.0.2.1}
  h2: {ssh: h2, address: 192.0.2.2}
bridges:
  lan: {addresses: [10.84.0.1/24], nat: true}
nodes:
  v: {host: h1, interfaces: {eth0: {link: lan, addresses: [10.84.0.3/24]}}}
  w: {host: h2, publish: ["8080:80"], interfaces: {eth0: {link: lan, addresses: [10.84.0.2/24]}}}
`
	l := mustParse(t, src)
	pl := topology.Place(l)
	if home := topology.Home(l, pl, l.Bridge("lan")); home != "h2" {
		t.Errorf("home of lan: %s, want h2 where w publishes", home)
	}
	s2, err := topology.Share(l, pl, "h2")
	if err != nil {
		t.Fatal(err)
	}
	if b := s2.Bridge("lan"); len(b.Addresses) == 0 || !b.NAT {
		t.Errorf("lan on h2 has no host side or NAT: %v %v", b.Addresses, b.NAT)
	}
	two := mustParse(t, strings.Replace(src, "v: {host: h1, interfaces", `v: {host: h1, publish: ["8081:80"], interfaces`, 1))
	_, err = topology.Share(two, topology.Place(two), "h2")
	if err == nil || !strings.Contains(err.Error(), "t.yaml:9:3: node w publishes ports on host h2, but the host side of bridge lan is on host h1") {
		t.Errorf("publishers of lan on h1 and h2: %v, want w refused at its line", err)
	}
}
