package check

import (
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/nslab/nslab/topology"
)

// TestExpectVRF: a vrf of a node is a routing domain of its own: its
// members reach each other and the routes of its table, not the node's
// other interfaces, and customers of two vrfs with the same subnet each
// reach their own side only.
func TestExpectVRF(t *testing.T) {
	lab, err := topology.Parse("v.yaml", []byte(`name: v
nodes:
  pe:
    router: true
    interfaces:
      r1: {link: ra:eth0, addresses: [10.0.0.1/26]}
      r2: {link: rb:eth0, addresses: [10.0.0.65/26]}
      b1: {link: ba:eth0, addresses: [10.0.0.1/26]}
      up: {link: core:eth0, addresses: [10.0.1.1/30]}
      red: {kind: vrf, table: 10, members: [r1, r2], addresses: [10.0.9.1/32]}
      blue: {kind: vrf, table: 20, members: [b1]}
  ra: {interfaces: {eth0: {addresses: [10.0.0.2/26]}}, routes: [{to: default, via: 10.0.0.1}]}
  ba: {interfaces: {eth0: {addresses: [10.0.0.3/26]}}, routes: [{to: default, via: 10.0.0.1}]}
  rb: {interfaces: {eth0: {addresses: [10.0.0.66/26]}}, routes: [{to: default, via: 10.0.0.65}]}
  core: {interfaces: {eth0: {addresses: [10.0.1.2/30]}}, routes: [{to: 10.0.0.0/24, via: 10.0.1.1}]}
`))
	if err != nil {
		t.Fatal(err)
	}
	reach := map[string][]string{}
	for _, p := range Expect(lab) {
		reach[p.From] = append(reach[p.From], p.To.String()+"@"+p.ToNode)
	}
	has := func(from, to string) bool { return slices.Contains(reach[from], to) }
	for _, c := range []struct {
		from, to string
		want     bool
	}{
		{"ra", "10.0.0.66@rb", true},     // red to red, through pe@red
		{"ra", "10.0.0.1@pe@red", true},  // red's gateway
		{"ba", "10.0.0.66@rb", false},    // blue to red
		{"ba", "10.0.0.1@pe@blue", true}, // blue's gateway, the same address
		{"core", "10.0.0.2@ra", false},   // the main table has no route into a vrf
		{"pe@red", "10.0.0.66@rb", true}, // probed from inside the vrf
		{"pe", "10.0.0.66@rb", false},    // not from the main table
		{"rb", "10.0.9.1@pe@red", true},  // the vrf's own address, in its table
		{"ba", "10.0.9.1@pe@red", false}, // not blue's
	} {
		if got := has(c.from, c.to); got != c.want {
			t.Errorf("%s -> %s: expected %v, want %v (%s reaches %v)", c.from, c.to, got, c.want, c.from, reach[c.from])
		}
	}
}

// vrfLite is a PE router with two customers in two vrfs that use the
// same subnet.
const vrfLite = `name: v
routing: auto
nodes:
  pe:
    router: true
    interfaces:
      r1: {link: ra:eth0, addresses: [10.0.0.1/26]}
      r2: {link: rb:eth0, addresses: [10.0.0.65/26]}
      b1: {link: ba:eth0, addresses: [10.0.0.1/26]}
      red: {kind: vrf, table: 10, members: [r1, r2]}
      blue: {kind: vrf, table: 20, members: [b1]}
  ra: {interfaces: {eth0: {addresses: [10.0.0.2/26]}}}
  ba: {interfaces: {eth0: {addresses: [10.0.0.2/26]}}}
  rb: {interfaces: {eth0: {addresses: [10.0.0.66/26]}}}
`

// TestFaultsVRF: a partition or block of a node holds for its vrfs: the
// probes from and to pe@red meet the partition of pe (they counted as
// failed before: pe@red was in no group); and the matrix has a row and a
// column per vrf, named NODE@VRF (before, pe@red's probes were in none).
func TestFaultsVRF(t *testing.T) {
	lab, err := topology.Parse("v.yaml", []byte(vrfLite))
	if err != nil {
		t.Fatal(err)
	}
	r := newReport(lab, Expect(lab))
	r.classify(lab, &Faults{Partition: [][]string{{"pe"}, {"ra"}}, Blocks: []Block{{From: []string{"ba"}, To: []string{"pe"}}}})
	for i := range r.Probes {
		p := &r.Probes[i]
		p.OK = p.Fault == ""
	}
	r.tally()
	var b strings.Builder
	r.WriteMatrix(&b)
	want := `from \ to  ba       pe@blue  pe@red       ra           rb
ba         ok       blocked  -            -            -
pe@blue    blocked  ok       -            -            -
pe@red     -        -        ok           partitioned  ok
ra         -        -        partitioned  ok           ok
rb         -        -        ok           ok           ok

v: all pairs, 16 probes, 11 passed, 0 failed, 5 met faults in force
`
	if d := cmp.Diff(want, b.String()); d != "" {
		t.Errorf("matrix (-want +got):\n%s", d)
	}
}
