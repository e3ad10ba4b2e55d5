package lab

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/nslab/nslab/kernel"
	"github.com/nslab/nslab/plan"
	"github.com/nslab/nslab/topology"
)

const twoMachines = `name: sf
hosts:
  h1: {ssh: h1, address: 192.0.2.1}
  h2: {ssh: h2, address: 192.0.2.2}
addressing: {pool: [10.9.0.0/16]}
bridges:
  lan: {}
nodes:
  a: {host: h1, interfaces: {eth0: {link: b:eth0}}}
  b: {host: h2, interfaces: {eth0: {}}}
  x: {host: h1, interfaces: {eth0: {link: lan}}}
  y: {host: h2, interfaces: {eth0: {link: lan}}}
`

func share(t *testing.T, host string) *topology.Lab {
	t.Helper()
	l, err := topology.Parse("sf.yaml", []byte(twoMachines))
	if err != nil {
		t.Fatal(err)
	}
	s, err := topology.Share(l, topology.Place(l), host)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestShareFiltersPlan: a host's share gets the filters of its own nodes
// only, computed on the whole lab: a on h1 drops b's and y's addresses
// (on h2), x in no group keeps no table.
func TestShareFiltersPlan(t *testing.T) {
	s := share(t, "h1")
	p, err := filtersPlan(s, [][]string{{"a"}, {"b", "y"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for _, st := range p.Stages {
		for _, op := range st.Ops {
			f := op.(*kernel.Partition)
			got[f.NS] = len(f.Drop)
		}
	}
	// b and y have an IPv4 address each (one per interface).
	if d := cmp.Diff(map[string]int{"sf.a": 2, "sf.x": 0}, got); d != "" {
		t.Errorf("filters of h1's share, addresses dropped by namespace (-want +got):\n%s", d)
	}
}

// TestPruneShareRecord: a change of a share (an up again) keeps the whole
// lab's partition and blocks in its record, though they name nodes of
// other machines; those of nodes the lab no longer has go.
func TestPruneShareRecord(t *testing.T) {
	s := share(t, "h1")
	f := &plan.Faults{Cuts: []string{"a:eth0", "b:eth0"}, Partition: [][]string{{"a"}, {"b", "y"}},
		Blocks: []plan.Block{{From: []string{"x"}, To: []string{"y"}}, {From: []string{"gone"}, To: []string{"a"}}}}
	pruneRecord(s, f, nil)
	want := &plan.Faults{Cuts: []string{"a:eth0"}, Partition: [][]string{{"a"}, {"b", "y"}},
		Blocks: []plan.Block{{From: []string{"x"}, To: []string{"y"}}}}
	if d := cmp.Diff(want, f); d != "" {
		t.Errorf("record of h1's share pruned (-want +got):\n%s", d)
	}
}
