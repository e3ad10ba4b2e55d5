package check

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/nslab/nslab/topology"
)

// TestFaultsExpected: with the faults in force, the pairs they separate
// are expected not to answer (a cut found by the model without the cut
// cable, a partition and a block by their nodes, either way for a block);
// a faulted pair that answers fails, and a lossy one counts neither way.
func TestFaultsExpected(t *testing.T) {
	lab, err := topology.Parse("f.yaml", []byte(`name: f
bridges: {br0: {}}
nodes:
  a: {interfaces: {eth0: {link: br0, addresses: [10.0.0.1/24]}}}
  b: {interfaces: {eth0: {link: br0, addresses: [10.0.0.2/24]}}}
  c: {interfaces: {eth0: {link: br0, addresses: [10.0.0.3/24]}}}
  d: {interfaces: {eth0: {link: br0, addresses: [10.0.0.4/24]}}}
  e: {interfaces: {eth0: {link: br0, addresses: [10.0.0.5/24]}}}
`))
	if err != nil {
		t.Fatal(err)
	}
	r := newReport(lab, Expect(lab))
	r.classify(lab, &Faults{
		Cuts:      []string{"e:eth0"},
		Partition: [][]string{{"a"}, {"b"}},
		Blocks:    []Block{{From: []string{"c"}, To: []string{"a"}}, {From: []string{"d"}, To: []string{"b"}, Loss: 20}},
	})
	got := map[string]string{}
	for i := range r.Probes {
		p := &r.Probes[i]
		if p.Fault != "" {
			got[p.From+">"+p.ToNode] = p.Fault
		}
		// The network behaves as the faults say, but for c -> a, whose
		// block did not take.
		p.OK = p.Fault == "" || p.From+">"+p.ToNode == "c>a"
	}
	want := map[string]string{
		"a>b": "partitioned", "b>a": "partitioned",
		"c>a": "blocked", "a>c": "blocked",
		"d>b": "lossy", "b>d": "lossy",
		"e>a": "cut", "e>b": "cut", "e>c": "cut", "e>d": "cut",
		"a>e": "cut", "b>e": "cut", "c>e": "cut", "d>e": "cut",
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("faults met (-want +got):\n%s", d)
	}
	r.tally()
	var b strings.Builder
	r.WriteMatrix(&b)
	wantOut := `from \ to  a            b            c        d      e
a          ok           partitioned  blocked  ok     cut
b          partitioned  ok           ok       lossy  cut
c          blocked!     ok           ok       ok     cut
d          ok           lossy        ok       ok     cut
e          cut          cut          cut      cut    ok

f: all pairs, 25 probes, 11 passed, 1 failed, 13 met faults in force
c -> 10.0.0.1 (a eth0): answers while blocked (the fault did not take)
`
	if d := cmp.Diff(wantOut, b.String()); d != "" {
		t.Errorf("matrix (-want +got):\n%s", d)
	}
}
