package plan

import (
	"encoding/json"
	"time"

	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/nslab/nslab/topology"
)

func tcLines(t *testing.T, p *Plan) []string {
	t.Helper()
	var out []string
	for _, l := range strings.Split(script(t, p), "\n") {
		if strings.HasPrefix(l, "tc ") {
			out = append(out, l)
		}
	}
	return out
}

// TestAsymmetricShapes: a one-way shape sits on the veth end whose
// outgoing packets it shapes: its own interface for direction out, the
// other end (another node's interface, a bridge port) for in; changing a
// running lab's shapes replaces each end's qdisc and takes it off the end
// left without one.
func TestAsymmetricShapes(t *testing.T) {
	parse := func(aShape, bShape string) *topology.Lab {
		tl, err := topology.Parse("s.yaml", []byte(`name: s
bridges: {br0: {}}
nodes:
  a:
    interfaces:
      eth0: {link: b:eth0`+aShape+`}
      eth1: {link: br0, shape: {delay: 20ms, direction: in}}
  b:
    interfaces:
      eth0: {`+bShape+`}
`))
		if err != nil {
			t.Fatal(err)
		}
		return tl
	}
	tl := parse(", shape: {rate: 10mbit, direction: out}", "shape: {rate: 2mbit, delay: 5ms, direction: out}")
	p, err := Up(tl, emptyState())
	if err != nil {
		t.Fatal(err)
	}
	port := PortName("s", "a", "eth1")
	want := []string{
		"tc -n s.a qdisc add dev eth0 root handle 1: tbf rate 10mbit burst 16384 limit 78884",
		"tc -n s.b qdisc add dev eth0 root handle 1: netem limit 1000 delay 5ms rate 2mbit",
		"tc qdisc add dev " + port + " root handle 1: netem limit 49537 delay 20ms",
	}
	if d := cmp.Diff(want, tcLines(t, p)); d != "" {
		t.Errorf("qdiscs (-want +got):\n%s", d)
	}

	// The same cable shaped both ways from b's end: both ends change.
	now := parse("", "shape: {rate: 2mbit}")
	r, err := Reconcile(tl, now, running(t, tl))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range r.Stages {
		for _, o := range s.Ops {
			if l := o.String(); strings.Contains(l, "qdisc") {
				got = append(got, strings.Split(l, "\n")...)
			}
		}
	}
	want = []string{
		"tc -n s.a qdisc del dev eth0 root", "tc -n s.a qdisc add dev eth0 root handle 1: tbf rate 2mbit burst 16384 limit 28884",
		"tc -n s.b qdisc del dev eth0 root", "tc -n s.b qdisc add dev eth0 root handle 1: tbf rate 2mbit burst 16384 limit 28884",
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("qdiscs changed (-want +got):\n%s", d)
	}
}

// TestNetemExtrasPlanned: duplicate, reorder and corrupt from the file
// reach both ends' netem qdiscs, and a runtime shape is held to the
// file's rules (reorder needs a delay).
func TestNetemExtrasPlanned(t *testing.T) {
	tl, err := topology.Parse("s.yaml", []byte(`name: s
nodes:
  a:
    interfaces:
      eth0: {link: b:eth0, shape: {delay: 10ms, duplicate: 20%, reorder: 25%, corrupt: 1%}}
  b:
    interfaces:
      eth0: {}
`))
	if err != nil {
		t.Fatal(err)
	}
	p, err := Up(tl, emptyState())
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"tc -n s.a qdisc add dev eth0 root handle 1: netem limit 24768 delay 10ms duplicate 20% reorder 25% corrupt 1%",
		"tc -n s.b qdisc add dev eth0 root handle 1: netem limit 24768 delay 10ms duplicate 20% reorder 25% corrupt 1%",
	}
	if d := cmp.Diff(want, tcLines(t, p)); d != "" {
		t.Errorf("qdiscs (-want +got):\n%s", d)
	}
	if _, err := Shape(tl, "a", "eth0", &topology.Shape{Reorder: 25}); err == nil || !strings.Contains(err.Error(), "needs a delay") {
		t.Errorf("runtime reorder without a delay: %v, want an error saying it needs a delay", err)
	}
	if _, err := Shape(tl, "a", "eth0", &topology.Shape{Duplicate: 120}); err == nil {
		t.Errorf("runtime duplicate 120%%: no error")
	}
}

// TestRuntimeShapeRecordKeepsNetemExtras: a runtime shape recorded in
// the faults (and read back from their JSON, as faults.json holds them)
// keeps its duplicate, reorder and corrupt, so that a repair puts back
// the shape that was set.
func TestRuntimeShapeRecordKeepsNetemExtras(t *testing.T) {
	tl, err := topology.Parse("s.yaml", []byte("name: s\nnodes:\n  a: {interfaces: {eth0: {link: b:eth0}}}\n  b: {interfaces: {eth0: {}}}\n"))
	if err != nil {
		t.Fatal(err)
	}
	s := &topology.Shape{Delay: 10 * time.Millisecond, Duplicate: 20, Reorder: 25, Corrupt: 1, Way: topology.WayOut}
	var f Faults
	f.SetShape(tl, "a", "eth0", s)
	data, err := json.Marshal(&f)
	if err != nil {
		t.Fatal(err)
	}
	var back Faults
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	if len(back.Shapes) != 1 || !back.Shapes[0].Shape().Equal(s) {
		t.Errorf("runtime shape %s recorded as %s", s, data)
	}
}
