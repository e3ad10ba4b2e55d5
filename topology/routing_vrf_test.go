package topology

import (
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// vrfCore is two PE routers that carry two customers, red and blue, in
// vrfs over a core of two cables (one per vrf), and a management cable
// in their main tables. Both customers use 10.1.1.0/24 at their first
// site; pe2's red vrf has an address of its own (a loopback in the vrf).
// pe1's main table has a route of its own to red's second site, which
// must not keep red's table from getting its route there.
const vrfCore = `name: vrfcore
routing: auto
nodes:
  pe1:
    router: true
    interfaces:
      red-c: {link: red1:eth0, addresses: [10.1.1.1/24]}
      blue-c: {link: blue1:eth0, addresses: [10.1.1.1/24]}
      red-core: {link: pe2:red-core, addresses: [10.9.0.0/31]}
      blue-core: {link: pe2:blue-core, addresses: [10.9.0.0/31]}
      mgmt: {link: pe2:mgmt, addresses: [10.255.0.0/31]}
      red: {kind: vrf, table: 10, members: [red-c, red-core]}
      blue: {kind: vrf, table: 20, members: [blue-c, blue-core]}
    routes:
      - {to: 10.1.2.0/24, via: 10.255.0.1}
  pe2:
    router: true
    interfaces:
      red-core: {addresses: [10.9.0.1/31]}
      blue-core: {addresses: [10.9.0.1/31]}
      mgmt: {addresses: [10.255.0.1/31]}
      red-c: {link: red2:eth0, addresses: [10.1.2.1/24]}
      blue-c: {link: blue2:eth0, addresses: [10.2.2.1/24]}
      red: {kind: vrf, table: 10, members: [red-c, red-core], addresses: [10.77.0.2/32]}
      blue: {kind: vrf, table: 20, members: [blue-c, blue-core]}
  red1: {interfaces: {eth0: {addresses: [10.1.1.2/24]}}}
  blue1: {interfaces: {eth0: {addresses: [10.1.1.2/24]}}}
  red2: {interfaces: {eth0: {addresses: [10.1.2.2/24]}}}
  blue2: {interfaces: {eth0: {addresses: [10.2.2.2/24]}}}
`

// routeTable renders a lab's routes by node: "TO via VIA table N (auto)".
func routeTable(l *Lab) map[string][]string {
	got := map[string][]string{}
	for _, n := range l.Nodes {
		for _, r := range n.Routes {
			s := r.To.String() + " via " + r.Via.String()
			if r.VRF != "" {
				s += " vrf " + r.VRF
			}
			if r.Table != 0 {
				s += " table " + strconv.Itoa(r.Table)
			}
			if r.Auto {
				s += " (auto)"
			}
			got[n.Name] = append(got[n.Name], s)
		}
	}
	return got
}

// TestAutoRoutesVRF: routing: auto routes each vrf of a router as a
// router of its own: routes in the vrf's table to the subnets its realm
// reaches, none into the other vrf (the same subnet in blue is not red's),
// none in the main table to a vrf's subnets; a route the file writes in
// the main table does not stand for the vrf's.
func TestAutoRoutesVRF(t *testing.T) {
	l, err := Parse("vrfcore.yaml", []byte(vrfCore))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{
		"pe1": {
			"10.1.2.0/24 via 10.255.0.1", // the file's, in the main table
			"10.2.2.0/24 via 10.9.0.1 vrf blue table 20 (auto)",
			"10.1.2.0/24 via 10.9.0.1 vrf red table 10 (auto)",
			"10.77.0.2/32 via 10.9.0.1 vrf red table 10 (auto)",
		},
		"pe2": {
			"10.1.1.0/24 via 10.9.0.0 vrf blue table 20 (auto)",
			"10.1.1.0/24 via 10.9.0.0 vrf red table 10 (auto)",
		},
		"red1":  {"0.0.0.0/0 via 10.1.1.1 (auto)"},
		"blue1": {"0.0.0.0/0 via 10.1.1.1 (auto)"},
		"red2":  {"0.0.0.0/0 via 10.1.2.1 (auto)"},
		"blue2": {"0.0.0.0/0 via 10.2.2.1 (auto)"},
	}
	if diff := cmp.Diff(want, routeTable(l)); diff != "" {
		t.Errorf("routes (-want +got):\n%s", diff)
	}
}

// TestAutoRoutesVRFFileWins: a route the file writes in a vrf's table
// stands, and nslab adds none to the same destination in that table; the
// other vrf still gets its own.
func TestAutoRoutesVRFFileWins(t *testing.T) {
	src := strings.Replace(vrfCore, "    routes:\n      - {to: 10.1.2.0/24, via: 10.255.0.1}\n",
		"    routes:\n      - {to: 10.2.2.0/24, dev: blue-core, vrf: blue}\n", 1)
	l, err := Parse("vrfcore.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	got := routeTable(l)["pe1"]
	want := []string{
		"10.2.2.0/24 via invalid IP vrf blue table 20",
		"10.1.2.0/24 via 10.9.0.1 vrf red table 10 (auto)",
		"10.77.0.2/32 via 10.9.0.1 vrf red table 10 (auto)",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("pe1's routes (-want +got):\n%s", diff)
	}
}

// TestAutoRoutesVRFTies: two routers' vrfs equally near a destination:
// the next hop is the one first by name (node, then vrf), whatever order
// the file gives them in.
func TestAutoRoutesVRFTies(t *testing.T) {
	src := `name: ties
routing: auto
bridges: {lan: {}, far: {}}
nodes:
  r0:
    router: true
    interfaces: {eth0: {link: lan, addresses: [10.5.0.1/24]}}
  pb:
    router: true
    interfaces:
      e0: {link: lan, addresses: [10.5.0.3/24]}
      e1: {link: far, addresses: [10.6.0.3/24]}
      x: {kind: vrf, table: 5, members: [e0, e1]}
  pa:
    router: true
    interfaces:
      e0: {link: lan, addresses: [10.5.0.2/24]}
      e1: {link: far, addresses: [10.6.0.2/24]}
      y: {kind: vrf, table: 7, members: [e0, e1]}
`
	l, err := Parse("ties.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	got := routeTable(l)
	want := map[string][]string{
		"r0": {"10.6.0.0/24 via 10.5.0.2 (auto)"}, // pa@y before pb@x
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("routes (-want +got):\n%s", diff)
	}
}

// TestAutoRoutesVRFStillWrong: with routing: auto, routes the file writes
// into vrfs are checked as before: a vrf that does not exist, a gateway
// only the other vrf reaches, a dev of another vrf.
func TestAutoRoutesVRFStillWrong(t *testing.T) {
	for _, c := range []struct{ name, route, want string }{
		{"no such vrf", "{to: 10.50.0.0/16, via: 10.9.0.1, vrf: green}",
			`vrfcore.yaml:15:48: route vrf green: node pe1 has no vrf "green" (vrfs: red, blue)`},
		{"gateway in the other vrf", "{to: 10.50.0.0/16, via: 10.2.2.2, vrf: red}",
			"vrfcore.yaml:15:33: gateway 10.2.2.2 is not on any subnet of pe1"},
		{"dev of the other vrf", "{to: 10.50.0.0/16, dev: blue-core, vrf: red}",
			"vrfcore.yaml:15:33: route dev blue-core: blue-core is not in vrf red"},
	} {
		t.Run(c.name, func(t *testing.T) {
			src := strings.Replace(vrfCore, "{to: 10.1.2.0/24, via: 10.255.0.1}", c.route, 1)
			_, err := Parse("vrfcore.yaml", []byte(src))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("got %v\nwant a line with %s", err, c.want)
			}
		})
	}
}

// TestAutoRoutesVRFGateway: a default route toward the lab's gateway
// bridge goes in a realm's table only where the realm reaches the
// bridge: pe's main table (on the bridge) and vrf blue (behind r, a
// router in blue's realm that is on the bridge) get one; vrf red, which
// the bridge is not on, none; red's host gets its default via pe@red.
func TestAutoRoutesVRFGateway(t *testing.T) {
	src := `name: gw
routing: auto
bridges:
  wan: {subnets: [10.1.0.0/24], gateway: true}
nodes:
  pe:
    router: true
    interfaces:
      up: {link: wan, addresses: [10.1.0.2/24]}
      red-a: {link: ra:eth0, addresses: [10.2.0.1/24]}
      blue-a: {link: r:down, addresses: [10.3.0.1/24]}
      red: {kind: vrf, table: 10, members: [red-a]}
      blue: {kind: vrf, table: 20, members: [blue-a]}
  r:
    router: true
    interfaces:
      down: {addresses: [10.3.0.2/24]}
      up: {link: wan, addresses: [10.1.0.3/24]}
  ra: {interfaces: {eth0: {addresses: [10.2.0.2/24]}}}
`
	l, err := Parse("gw.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{
		"pe": {
			"10.3.0.0/24 via 10.1.0.3 (auto)", // r's far side, by the main table
			"0.0.0.0/0 via 10.1.0.1 (auto)",
			"10.1.0.0/24 via 10.3.0.2 vrf blue table 20 (auto)",
			"0.0.0.0/0 via 10.3.0.2 vrf blue table 20 (auto)",
		},
		"r": {
			"0.0.0.0/0 via 10.1.0.1 (auto)",
		},
		"ra": {"0.0.0.0/0 via 10.2.0.1 (auto)"},
	}
	if diff := cmp.Diff(want, routeTable(l)); diff != "" {
		t.Errorf("routes (-want +got):\n%s", diff)
	}
}
