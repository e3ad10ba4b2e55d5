package fleet

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/nslab/nslab/plan"
	"github.com/nslab/nslab/topology"
)

// faultLab is a lab over two machines (a third has no nodes): a cable a(h1) -- b(h2) between
// them, a cable b -- c within h2 (shaped by the file on c's end), and a
// bridge lan with x (h1) and y (h2) on it.
const faultLab = `name: fl
hosts:
  h1: {ssh: h1, address: 192.0.2.1}
  h2: {ssh: h2, address: 192.0.2.2}
  h3: {ssh: h3, address: 192.0.2.3}
addressing: {pool: [10.9.0.0/16]}
bridges:
  lan: {}
nodes:
  a: {host: h1, interfaces: {eth1: {link: b:eth0}}}
  b: {host: h2, interfaces: {eth0: {shape: {rate: 5mbit}}, eth1: {link: c:eth0}}}
  c: {host: h2, interfaces: {eth0: {shape: {rate: 1mbit}}}}
  x: {host: h1, interfaces: {eth0: {link: lan}}}
  y: {host: h2, interfaces: {eth0: {link: lan}}}
`

func parseFaultLab(t *testing.T) (*topology.Lab, topology.Placement) {
	t.Helper()
	l, err := topology.Parse("fl.yaml", []byte(faultLab))
	if err != nil {
		t.Fatal(err)
	}
	return l, topology.Place(l)
}

func TestCutOps(t *testing.T) {
	l, pl := parseFaultLab(t)
	for _, tc := range []struct {
		node, iface string
		up          bool
		want        map[string][]FaultOp
	}{
		// A cable between machines is cut at both ends, each on its host.
		{"a", "eth1", false, map[string][]FaultOp{"h1": {{Op: "cut", Node: "a", Iface: "eth1"}}, "h2": {{Op: "cut", Node: "b", Iface: "eth0"}}}},
		{"b", "eth0", true, map[string][]FaultOp{"h2": {{Op: "join", Node: "b", Iface: "eth0"}}, "h1": {{Op: "join", Node: "a", Iface: "eth1"}}}},
		// Within one machine, or a bridge port: that machine alone.
		{"c", "eth0", false, map[string][]FaultOp{"h2": {{Op: "cut", Node: "c", Iface: "eth0"}}}},
		{"x", "eth0", false, map[string][]FaultOp{"h1": {{Op: "cut", Node: "x", Iface: "eth0"}}}},
	} {
		got, err := CutOps(l, pl, tc.node, tc.iface, tc.up)
		if err != nil {
			t.Errorf("CutOps %s:%s: %v", tc.node, tc.iface, err)
			continue
		}
		if d := cmp.Diff(tc.want, got); d != "" {
			t.Errorf("CutOps %s:%s up=%v (-want +got):\n%s", tc.node, tc.iface, tc.up, d)
		}
	}
	if _, err := CutOps(l, pl, "a", "eth9", false); err == nil {
		t.Error("CutOps of a:eth9, which a does not have: no error")
	}
}

func TestShapeOps(t *testing.T) {
	l, pl := parseFaultLab(t)
	s := &topology.Shape{Rate: 10_000_000}
	// The other end of a:eth1, b:eth0, is shaped by the file: its host
	// takes that off, so that the cable is shaped as given alone.
	got, err := ShapeOps(l, pl, &plan.Faults{}, "a", "eth1", s)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]FaultOp{
		"h1": {{Op: "shape", Node: "a", Iface: "eth1", Shape: &plan.RuntimeShape{Iface: "a:eth1", Rate: 10_000_000}}},
		"h2": {{Op: "shape", Node: "b", Iface: "eth0", Shape: &plan.RuntimeShape{Iface: "b:eth0", Off: true}}},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("ShapeOps a:eth1 (-want +got):\n%s", d)
	}
	// Shaped on b's end, which the file shapes: h2 alone.
	got, err = ShapeOps(l, pl, &plan.Faults{}, "b", "eth0", nil)
	if err != nil {
		t.Fatal(err)
	}
	want = map[string][]FaultOp{"h2": {{Op: "shape", Node: "b", Iface: "eth0", Shape: &plan.RuntimeShape{Iface: "b:eth0", Off: true}}}}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("ShapeOps b:eth0 off (-want +got):\n%s", d)
	}
	// A runtime shape on the far end is taken off there too.
	l2, err := topology.Parse("fl.yaml", []byte(faultLab))
	if err != nil {
		t.Fatal(err)
	}
	l2.Node("b").Interface("eth0").Shape = nil
	f := &plan.Faults{Shapes: []plan.RuntimeShape{{Iface: "b:eth0", Rate: 1_000_000}}}
	got, err = ShapeOps(l2, pl, f, "a", "eth1", s)
	if err != nil {
		t.Fatal(err)
	}
	if len(got["h2"]) != 1 || got["h2"][0].Shape == nil || !got["h2"][0].Shape.Off {
		t.Errorf("ShapeOps a:eth1 with b:eth0 shaped at runtime: h2 gets %+v, want its shape off", got["h2"])
	}
	if _, err := ShapeOps(l, pl, &plan.Faults{}, "a", "eth1", &topology.Shape{Jitter: 1}); err == nil {
		t.Error("ShapeOps with a jitter and no delay: no error")
	}
}

func TestFilterOps(t *testing.T) {
	l, pl := parseFaultLab(t)
	groups := [][]string{{"a", "x"}, {"b", "y"}}
	blocks := []plan.Block{{From: []string{"c"}, To: []string{"a"}}}
	got, err := FilterOps(l, pl, groups, blocks)
	if err != nil {
		t.Fatal(err)
	}
	// Every host with nodes gets the whole lab's filters, nodes in no
	// group (c) too: its table is rewritten with what is asked of it, or
	// goes. h3 has none.
	op := FaultOp{Op: "filters", Partition: groups, Blocks: blocks}
	if d := cmp.Diff(map[string][]FaultOp{"h1": {op}, "h2": {op}}, got); d != "" {
		t.Errorf("FilterOps (-want +got):\n%s", d)
	}
	if _, err := FilterOps(l, pl, [][]string{{"a"}, {"zz"}}, nil); err == nil {
		t.Error("FilterOps with a node the lab does not have: no error")
	}
}

func TestMergeFaults(t *testing.T) {
	shipped := &plan.Faults{Cuts: []string{"a:eth1"}, Partition: [][]string{{"a"}, {"b"}}, Blocks: []plan.Block{{From: []string{"c"}, To: []string{"a"}}}}
	local := &plan.Faults{Cuts: []string{"a:eth1", "b:eth0"}, Blocks: []plan.Block{{From: []string{"c"}, To: []string{"a"}}, {From: []string{"x"}, To: []string{"y"}}}}
	got := MergeFaults(shipped, local)
	want := &plan.Faults{Cuts: []string{"a:eth1", "b:eth0"}, Partition: [][]string{{"a"}, {"b"}},
		Blocks: []plan.Block{{From: []string{"x"}, To: []string{"y"}}, {From: []string{"c"}, To: []string{"a"}}}}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("MergeFaults (-want +got):\n%s", d)
	}
	if got := MergeFaults(nil, &plan.Faults{}); !got.Empty() {
		t.Errorf("MergeFaults of nothing: %+v", got)
	}
}
