package plan

import (
	"strings"
	"testing"
)

const tapLab = `name: tl
bridges:
  sw: {taps: {vm1: {}}}
nodes:
  a: {interfaces: {eth0: {link: sw}}}
`

// TestReconcileTaps: a tap added is made, one removed is deleted, one
// whose owner changes or whose bridge is made anew is made anew, and an
// untouched tap is left alone (its VM keeps it).
func TestReconcileTaps(t *testing.T) {
	vm1, vm2 := TapName("tl", "vm1"), TapName("tl", "vm2")
	for _, tc := range []struct {
		name, to   string
		made, gone []string
		untouched  bool
	}{
		{name: "tap added", to: strings.Replace(tapLab, "{vm1: {}}", "{vm1: {}, vm2: {}}", 1), made: []string{vm2}},
		{name: "tap removed", to: strings.Replace(tapLab, "taps: {vm1: {}}", "", 1), gone: []string{vm1}},
		{name: "owner changed", to: strings.Replace(tapLab, "{vm1: {}}", "{vm1: {user: nobody}}", 1), made: []string{vm1}, gone: []string{vm1}},
		{name: "bridge made anew", to: strings.Replace(tapLab, "sw: {taps", "sw: {mtu: 9000, taps", 1), made: []string{vm1}},
		{name: "node added", to: tapLab + "  b: {interfaces: {eth0: {link: sw}}}\n", untouched: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			from, to := parse(t, tapLab), parse(t, tc.to)
			p, err := Reconcile(from, to, running(t, from))
			if err != nil {
				t.Fatal(err)
			}
			s := script(t, p)
			for _, n := range tc.made {
				if !strings.Contains(s, "ip tuntap add "+n+" mode tap") {
					t.Errorf("tap %s not made:\n%s", n, s)
				}
			}
			for _, n := range tc.gone {
				if !strings.Contains(s, "ip link delete "+n) {
					t.Errorf("tap %s not deleted:\n%s", n, s)
				}
			}
			if tc.untouched && strings.Contains(s, "nv-") {
				t.Errorf("a tap is touched:\n%s", s)
			}
		})
	}
}
