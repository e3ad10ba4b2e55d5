package topology

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// kindsLab has one interface of every kind.
const kindsLab = `name: kinds
bridges:
  sw1: {}
  sw2: {link: sw1}
nodes:
  r1:
    interfaces:
      eth0: {link: r2:eth0, mtu: 9000}
      eth0.10: {kind: vlan, addresses: [10.0.10.1/24]}
      v20: {kind: vlan, parent: eth0, id: 20, mtu: 1500, addresses: [10.0.20.1/24]}
      qinq: {kind: vlan, parent: eth0, id: 100, protocol: 802.1ad}
      qinq.7: {kind: vlan, addresses: [10.0.7.1/24]}
      lo0: {kind: dummy, addresses: [10.255.0.1/32]}
      mv0: {kind: macvlan, parent: eth0, mode: private}
      eth1: {link: sw1}
      eth2: {link: sw2}
      bond0: {kind: bond, members: [eth1, eth2], mode: active-backup, miimon: 50ms, primary: eth1, addresses: [10.1.0.1/24]}
      blue: {kind: vrf, table: 10, members: [v20, lo1]}
      lo1: {kind: dummy, addresses: [10.255.1.1/32]}
    routes:
      - {to: 10.9.0.0/16, via: 10.0.20.2, vrf: blue}
  r2:
    interfaces:
      eth0: {}
      eth0.10: {kind: vlan, addresses: [10.0.10.2/24]}
      eth0.20: {kind: vlan, addresses: [10.0.20.2/24]}
      iv0: {kind: ipvlan, parent: eth0.10, mode: l2}
  h:
    interfaces:
      eth0: {link: sw1, addresses: [10.1.0.2/24]}
`

func TestKindsModel(t *testing.T) {
	lab, err := Parse("kinds.yaml", []byte(kindsLab))
	if err != nil {
		t.Fatal(err)
	}
	r1 := lab.Node("r1")
	type view struct {
		Kind, Parent, Proto, Mode, Master string
		VLAN, Table, MTU                  int
		Members                           []string
	}
	got := map[string]view{}
	for _, i := range r1.Interfaces {
		got[i.Name] = view{i.Kind, i.Parent, i.Protocol, i.Mode, i.Master, i.VLAN, i.Table, i.MTU, i.Members}
	}
	want := map[string]view{
		"eth0":    {MTU: 9000},
		"eth0.10": {Kind: "vlan", Parent: "eth0", Proto: VLAN8021Q, VLAN: 10},
		"v20":     {Kind: "vlan", Parent: "eth0", Proto: VLAN8021Q, VLAN: 20, MTU: 1500, Master: "blue"},
		"qinq":    {Kind: "vlan", Parent: "eth0", Proto: VLAN8021AD, VLAN: 100},
		"qinq.7":  {Kind: "vlan", Parent: "qinq", Proto: VLAN8021Q, VLAN: 7},
		"lo0":     {Kind: "dummy"},
		"mv0":     {Kind: "macvlan", Parent: "eth0", Mode: "private"},
		"eth1":    {Master: "bond0"},
		"eth2":    {Master: "bond0"},
		"bond0":   {Kind: "bond", Mode: "active-backup", Members: []string{"eth1", "eth2"}},
		"blue":    {Kind: "vrf", Table: 10, Members: []string{"v20", "lo1"}},
		"lo1":     {Kind: "dummy", Master: "blue"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("r1's interfaces (-want +got):\n%s", diff)
	}
	if b := r1.Interface("bond0").Bond; b == nil || b.Miimon != 50*time.Millisecond || b.Primary != "eth1" {
		t.Errorf("bond0's options: %+v", b)
	}
	if rt := r1.Routes[0]; rt.VRF != "blue" || rt.Table != 10 {
		t.Errorf("route in vrf: %+v", rt)
	}
	// Segments: VLANs of the cable, the bond on the joined switches.
	segs := map[string][]string{}
	for _, s := range lab.Segments() {
		for _, m := range s.Members {
			segs[s.Name] = append(segs[s.Name], m.Node+":"+m.Dev+"@"+m.VRF)
		}
	}
	wantSegs := map[string][]string{
		"sw1":                                          {"h:eth0@", "r1:bond0@"},
		"r1:eth0 -- r2:eth0":                           {"r1:eth0@", "r2:eth0@", "r1:mv0@"},
		"r1:eth0 -- r2:eth0 vlan 10":                   {"r1:eth0.10@", "r2:eth0.10@", "r2:iv0@"},
		"r1:eth0 -- r2:eth0 vlan 20":                   {"r1:v20@blue", "r2:eth0.20@"},
		"r1:eth0 -- r2:eth0 vlan 100 (802.1ad)":        nil,
		"r1:eth0 -- r2:eth0 vlan 100 (802.1ad) vlan 7": {"r1:qinq.7@"},
		"r1:lo0":  {"r1:lo0@"},
		"r1:lo1":  {"r1:lo1@blue"},
		"r1:blue": {"r1:blue@blue"}, // a vrf is in its own table
	}
	wantSegs["r1:eth0 -- r2:eth0 vlan 100 (802.1ad)"] = []string{"r1:qinq@"}
	if diff := cmp.Diff(wantSegs, segs); diff != "" {
		t.Errorf("segments (-want +got):\n%s", diff)
	}
}

// TestKindsAutoAddresses: a VLAN sub-interface is on a segment of its own,
// addressed from the pool apart from its parent's cable; a parent without
// addresses of its own is a trunk and gets none.
func TestKindsAutoAddresses(t *testing.T) {
	lab, err := Parse("pool.yaml", []byte(`name: pool
addressing: {pool: [10.50.0.0/16]}
nodes:
  a:
    interfaces:
      eth0: {link: b:eth0}
      eth0.10: {kind: vlan}
      eth0.20: {kind: vlan}
  b:
    interfaces:
      eth0: {}
      eth0.10: {kind: vlan}
      eth0.20: {kind: vlan}
`))
	if err != nil {
		t.Fatal(err)
	}
	got := lab.Assignments().String()
	// The parents are trunks: addressed on their VLANs only.
	want := strings.Join([]string{
		"a:eth0.10 10.50.0.0/31", "a:eth0.20 10.50.0.2/31",
		"b:eth0.10 10.50.0.1/31", "b:eth0.20 10.50.0.3/31"}, "\n")
	if got != want {
		t.Errorf("assignments:\n%s\nwant:\n%s", got, want)
	}
}

// TestVRFSubnetsReused: two vrfs of a router may use the same subnets
// (VRF-lite), one vrf may not use a subnet twice.
func TestVRFSubnetsReused(t *testing.T) {
	const good = `name: vrflite
nodes:
  pe:
    router: true
    interfaces:
      e1: {link: ca:eth0, addresses: [10.0.1.1/24]}
      e2: {link: cb:eth0, addresses: [10.0.1.1/24]}
      red: {kind: vrf, table: 10, members: [e1]}
      blue: {kind: vrf, table: 20, members: [e2]}
  ca:
    interfaces:
      eth0: {addresses: [10.0.1.2/24]}
    routes: [{to: default, via: 10.0.1.1}]
  cb:
    interfaces:
      eth0: {addresses: [10.0.1.2/24]}
    routes: [{to: default, via: 10.0.1.1}]
`
	if _, err := Parse("vrflite.yaml", []byte(good)); err != nil {
		t.Fatal(err)
	}
	bad := strings.Replace(good, "red: {kind: vrf, table: 10, members: [e1]}", "red: {kind: vrf, table: 10, members: [e1, e2]}", 1)
	bad = strings.Replace(bad, "blue: {kind: vrf, table: 20, members: [e2]}", "blue: {kind: vrf, table: 20}", 1)
	_, err := Parse("vrflite.yaml", []byte(bad))
	if err == nil || !strings.Contains(err.Error(), "already used") {
		t.Errorf("the same address twice in one vrf: got %v", err)
	}
}

// TestKindsHostile: files a careless or hostile user writes are refused at
// the line and column of the mistake, with what to do.
func TestKindsHostile(t *testing.T) {
	head := "name: k\nnodes:\n  r:\n    interfaces:\n      eth0: {link: s:eth0}\n"
	tail := "  s:\n    interfaces:\n      eth0: {}\n"
	cases := []struct {
		name, ifaces, want string
	}{
		{"id 0", "      v: {kind: vlan, parent: eth0, id: 0}\n", "k.yaml:6:41: nodes.r.interfaces.v.id: VLAN id 0 is out of range: it must be from 1 to 4094"},
		{"id 4095", "      v: {kind: vlan, parent: eth0, id: 4095}\n", "k.yaml:6:41: nodes.r.interfaces.v.id: VLAN id 4095 is out of range"},
		{"id abc", "      v: {kind: vlan, parent: eth0, id: abc}\n", "k.yaml:6:41: nodes.r.interfaces.v.id: expected an integer"},
		{"id missing", "      v: {kind: vlan, parent: eth0}\n", "k.yaml:6:17: r:v: a vlan needs id"},
		{"name not PARENT.ID", "      eth0.x: {kind: vlan}\n", "k.yaml:6:22: r:eth0.x: a vlan needs parent"},
		{"missing parent", "      eth9.10: {kind: vlan}\n", `k.yaml:6:7: r:eth9.10: parent eth9: node r has no interface "eth9"`},
		{"parent loop", "      a: {kind: vlan, parent: b, id: 1}\n      b: {kind: vlan, parent: a, id: 2}\n", "k.yaml:6:31: r:a: parents form a loop: a -> b -> a"},
		{"own parent", "      a: {kind: macvlan, parent: a}\n", "k.yaml:6:34: r:a: an interface cannot be its own parent"},
		{"same id twice", "      a: {kind: vlan, parent: eth0, id: 5}\n      b: {kind: vlan, parent: eth0, id: 5}\n", "k.yaml:7:41: r:b: eth0 already has a 802.1Q sub-interface with VLAN id 5: a (at k.yaml:6:7)"},
		{"link on vlan", "      eth0.5: {kind: vlan, link: s:eth1}\n", "k.yaml:6:28: r:eth0.5: an interface of kind vlan has no cable of its own"},
		{"mtu above parent", "      eth0.5: {kind: vlan, mtu: 1600}\n", "k.yaml:6:33: mtu 1600 of r:eth0.5 is larger than the mtu 1500 of its parent eth0"},
		{"member in two bonds", "      eth1: {link: s:eth1}\n      b0: {kind: bond, members: [eth0, eth1]}\n      b1: {kind: bond, members: [eth1]}\n", "k.yaml:8:34: r:b1: eth1 is already a member of bond b0 (at k.yaml:7:7)"},
		{"member with address", "      eth1: {link: s:eth1, addresses: [10.0.0.1/24]}\n      b0: {kind: bond, members: [eth1]}\n", "k.yaml:6:40: r:eth1 is a member of bond b0 (at k.yaml:7:7) and carries no addresses"},
		{"bond of a dummy", "      d: {kind: dummy}\n      b0: {kind: bond, members: [d]}\n", "k.yaml:7:34: r:b0: member d is a dummy; a bond enslaves a veth"},
		{"vlan on a bond member", "      eth1: {link: s:eth1}\n      b0: {kind: bond, members: [eth1]}\n      eth1.3: {kind: vlan}\n", "k.yaml:8:7: r:eth1.3: parent eth1 is a member of bond b0"},
		{"bad bond mode", "      eth1: {link: s:eth1}\n      b0: {kind: bond, members: [eth1], mode: lacp}\n", `k.yaml:7:47: r:b0: a bond has no mode "lacp" (modes: balance-rr, active-backup`},
		{"unknown kind", "      x: {kind: vlna}\n", `k.yaml:6:17: nodes.r.interfaces.x.kind: unknown interface kind "vlna"; did you mean "vlan"?`},
		{"key of another kind", "      d: {kind: dummy, table: 5}\n", "k.yaml:6:24: r:d: table is not a key of an interface of kind dummy"},
		{"vrf reserved table", "      v: {kind: vrf, table: 254}\n", "k.yaml:6:29: nodes.r.interfaces.v.table: table 254 is the kernel's main table"},
		{"vrf same table", "      v: {kind: vrf, table: 5}\n      w: {kind: vrf, table: 5}\n", "k.yaml:7:29: r:w: table 5 is already the table of vrf v"},
		{"route in no vrf", "      v: {kind: vrf, table: 5}\n    routes: [{to: 10.9.0.0/16, dev: eth0, vrf: red}]\n", `k.yaml:7:48: route vrf red: node r has no vrf "red" (vrfs: v)`},
		{"ipvlan beside macvlan", "      m: {kind: macvlan, parent: eth0}\n      i: {kind: ipvlan, parent: eth0}\n", "k.yaml:7:33: r:i: parent eth0 already carries macvlan m"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse("k.yaml", []byte(head+c.ifaces+tail))
			var list ErrorList
			if !errors.As(err, &list) {
				t.Fatalf("got %v, want an ErrorList", err)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("got\n%v\nwant a line with\n%s", err, c.want)
			}
		})
	}
}

// TestRouterOnAStickAutoRouting: with routing: auto, hosts on two VLANs of
// one switch get their default route via the router's sub-interface of
// their VLAN; the trunk ports get no addresses (they had: the hosts' default
// route then went via the untagged segment).
func TestRouterOnAStickAutoRouting(t *testing.T) {
	lab, err := Parse("ros.yaml", []byte(`name: ros
routing: auto
addressing: {pool: [10.90.0.0/16]}
bridges: {sw: {}}
nodes:
  r:
    router: true
    interfaces:
      eth0: {link: sw}
      eth0.10: {kind: vlan}
      eth0.20: {kind: vlan}
  h10: {interfaces: {eth0: {link: sw}, eth0.10: {kind: vlan}}}
  h20: {interfaces: {eth0: {link: sw}, eth0.20: {kind: vlan}}}
`))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, n := range lab.Nodes {
		for _, r := range n.Routes {
			got[n.Name] += r.To.String() + " via " + r.Via.String() + ";"
		}
		for _, i := range n.Interfaces {
			if len(i.Addresses) > 0 {
				got[i.Ref()] = i.Addresses[0].String()
			}
		}
	}
	want := map[string]string{
		"h10": "0.0.0.0/0 via 10.90.0.2;", "h20": "0.0.0.0/0 via 10.90.1.2;",
		"h10:eth0.10": "10.90.0.1/24", "h20:eth0.20": "10.90.1.1/24",
		"r:eth0.10": "10.90.0.2/24", "r:eth0.20": "10.90.1.2/24",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("routes and addresses (-want +got):\n%s", diff)
	}
}
