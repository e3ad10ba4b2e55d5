package plan

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const kindsLab = `name: kl
nodes:
  r1:
    interfaces:
      eth0: {link: r2:eth0}
      eth1: {link: r2:eth1}
      eth0.10: {kind: vlan, addresses: [10.0.10.1/24]}
      bond0: {kind: bond, mode: active-backup, members: [eth1], addresses: [10.1.0.1/30]}
      red: {kind: vrf, table: 10, members: [eth0.10]}
    routes: [{to: 10.9.0.0/16, via: 10.0.10.2, vrf: red}]
  r2:
    interfaces:
      eth0: {}
      eth1: {}
      eth0.10: {kind: vlan, addresses: [10.0.10.2/24]}
  r3:
    interfaces:
      lo0: {kind: dummy, addresses: [10.255.0.3/32]}
`

// lines returns a plan's commands, without comments and the nft script.
func lines(t *testing.T, p *Plan) []string {
	t.Helper()
	var got []string
	inNft := false
	for _, l := range strings.Split(script(t, p), "\n") {
		switch {
		case strings.HasPrefix(l, "nft -f"):
			inNft = true
		case inNft:
			inNft = l != "EOF"
		case l != "" && !strings.HasPrefix(l, "#"):
			got = append(got, l)
		}
	}
	return got
}

// TestReconcileKinds: interfaces made inside nodes are added, changed and
// removed on a running lab without touching other nodes or their other
// interfaces.
func TestReconcileKinds(t *testing.T) {
	for _, tc := range []struct {
		name, to string
		want     []string
	}{{
		name: "a vlan added",
		to:   strings.Replace(kindsLab, "      eth0.10: {kind: vlan, addresses: [10.0.10.2/24]}\n", "      eth0.10: {kind: vlan, addresses: [10.0.10.2/24]}\n      eth0.20: {kind: vlan, addresses: [10.0.20.2/24]}\n", 1),
		want: []string{
			"ip -n kl.r2 link add link eth0 name eth0.20 type vlan protocol 802.1Q id 20",
			"ip -n kl.r2 link set eth0.20 up",
			"ip -n kl.r2 addr add 10.0.20.2/24 dev eth0.20",
		},
	}, {
		name: "a vlan's address changed in place",
		to:   strings.Replace(kindsLab, "10.0.10.2/24", "10.0.10.3/24", 1),
		want: []string{
			"ip -n kl.r2 addr del 10.0.10.2/24 dev eth0.10",
			"ip -n kl.r2 link set eth0.10 up",
			"ip -n kl.r2 addr add 10.0.10.3/24 dev eth0.10",
		},
	}, {
		name: "a vlan's id changed: made anew, with the vrf's routes",
		to:   strings.NewReplacer("eth0.10: {kind: vlan, addresses: [10.0.10.1/24]}", "eth0.10: {kind: vlan, id: 11, parent: eth0, addresses: [10.0.10.1/24]}").Replace(kindsLab),
		want: []string{
			"ip -n kl.r1 link delete eth0.10",
			"ip -n kl.r1 link add link eth0 name eth0.10 type vlan protocol 802.1Q id 11",
			"ip -n kl.r1 link set eth0.10 master red",
			"ip -n kl.r1 link set eth0.10 up",
			"ip -n kl.r1 addr add 10.0.10.1/24 dev eth0.10",
			"ip -n kl.r1 route replace 10.9.0.0/16 via 10.0.10.2 table 10 proto 78",
		},
	}, {
		name: "a dummy removed",
		to:   strings.Replace(kindsLab, "      lo0: {kind: dummy, addresses: [10.255.0.3/32]}\n", "", 1),
		want: []string{"ip -n kl.r3 link delete lo0"},
	}, {
		name: "a bond's mode changed: made anew, its member enslaved and up again",
		to:   strings.Replace(kindsLab, "mode: active-backup", "mode: balance-rr", 1),
		want: []string{
			"ip -n kl.r1 link delete bond0",
			"ip -n kl.r1 link add name bond0 type bond mode balance-rr miimon 100",
			"ip -n kl.r1 link set eth1 down",
			"ip -n kl.r1 link set eth1 master bond0",
			"ip -n kl.r1 link set bond0 up",
			"ip -n kl.r1 addr add 10.1.0.1/30 dev bond0",
			"ip -n kl.r1 link set eth1 up",
			"ip -n kl.r1 route replace 10.9.0.0/16 via 10.0.10.2 table 10 proto 78",
		},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			from, to := parse(t, kindsLab), parse(t, tc.to)
			p, err := Reconcile(from, to, running(t, from))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, lines(t, p)); diff != "" {
				t.Errorf("plan (-want +got):\n%s", diff)
			}
		})
	}
}

// TestReconcileKindsNothing: a running lab with every kind and its own
// file differ in nothing.
func TestReconcileKindsNothing(t *testing.T) {
	l := parse(t, kindsLab)
	p, err := Reconcile(l, l, running(t, l))
	if err != nil {
		t.Fatal(err)
	}
	if !p.Empty() {
		t.Errorf("reconciling with its own file plans:\n%s", script(t, p))
	}
}

// TestCutKinds: link down of an interface made inside a node says which
// cable to cut instead (before: "r1:eth0.10 is in no cable"); a bond member's
// cable is cut like any other.
func TestCutKinds(t *testing.T) {
	l := parse(t, kindsLab)
	for _, c := range []struct{ node, iface, want string }{
		{"r1", "eth0.10", "r1:eth0.10 is a vlan on eth0, which has no cable of its own: cut the cable under it (its parent eth0)"},
		{"r1", "bond0", "r1:bond0 is a bond, which has no cable of its own: cut a member's cable (nslab link down r1:eth1)"},
		{"r3", "lo0", "r3:lo0 is a dummy, which has no cable: only a cable's end can be cut"},
	} {
		_, err := Cut(l, c.node, c.iface, false)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("cut %s:%s: %v, want %q", c.node, c.iface, err, c.want)
		}
	}
	p, err := Cut(l, "r1", "eth1", false)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(lines(t, p), "\n"); !strings.Contains(got, "ip -n kl.r2 link set eth1 down") {
		t.Errorf("cut of a bond member's cable:\n%s", got)
	}
}
