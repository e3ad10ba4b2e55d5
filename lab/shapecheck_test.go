package lab_test

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/nslab/nslab/check"
	"github.com/nslab/nslab/kernel"
	"github.com/nslab/nslab/lab"
	"github.com/nslab/nslab/nslabtest"
	"github.com/nslab/nslab/topology"
)

// measureShapes measures tl's shaped cables and logs the report.
func measureShapes(t *testing.T, tl *topology.Lab) *check.MeasureReport {
	t.Helper()
	start := time.Now()
	rep, err := lab.MeasureShapes(context.Background(), tl)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	rep.WriteTable(&b)
	t.Logf("measured %d paths in %v:\n%s", len(rep.Paths), time.Since(start).Round(time.Millisecond), b.String())
	return rep
}

// TestMeasureShapesOnHost measures, on the host's kernel, a cable
// shaped to 5mbit both ways (tbf), a cable losing 20% one way (netem, or
// nftables without it) and a bridge port shaped to 2mbit into the node
// (measured against the host's address on the bridge): every figure is
// within its tolerance, both ways. A runtime shape (30% loss both ways)
// is what is measured while it holds. Then the rate is taken off a's end
// behind nslab's back (tc qdisc del): the measure fails, naming the
// cable, the way, the rate expected and measured.
func TestMeasureShapesOnHost(t *testing.T) {
	nslabtest.RequireRoot(t)
	nslabtest.Kernel(t)
	if err := kernel.QdiscSupported("tbf"); err != nil {
		t.Skipf("this kernel has no tbf qdisc (sch_tbf): %v", err)
	}
	sub := nslabtest.Subnet(t)
	tl := up(t, strings.ReplaceAll(`
bridges:
  br0: {addresses: [SUB.129/26]}
nodes:
  a:
    interfaces:
      eth0: {link: b:eth0, addresses: [SUB.1/30], shape: {rate: 5mbit}}
      eth1: {link: c:eth0, addresses: [SUB.5/30], shape: {loss: 20%, direction: out}}
  b:
    interfaces:
      eth0: {addresses: [SUB.2/30]}
  c:
    interfaces:
      eth0: {addresses: [SUB.6/30]}
  n1:
    interfaces:
      eth0: {link: br0, addresses: [SUB.130/26], shape: {rate: 2mbit, direction: in}}
`, "SUB", sub))
	start := time.Now()
	rep := measureShapes(t, tl)
	if d := time.Since(start); d > 15*time.Second {
		t.Errorf("measuring 3 paths took %v, want a few seconds", d)
	}
	if len(rep.Paths) != 3 || rep.Failed != 0 {
		t.Fatalf("%d paths measured, %d failures: %q; want 3 paths, none", len(rep.Paths), rep.Failed, rep.Failures())
	}
	got := map[string]check.WayResult{}
	for _, p := range rep.Paths {
		for _, w := range p.Ways {
			got[w.From+">"+w.To] = w
		}
	}
	// The figures that prove the shape holds each way, beside the pass.
	for way, want := range map[string]struct {
		rate uint64
		loss float64
	}{"a>b": {5e6, 0}, "b>a": {5e6, 0}, "a>c": {0, 20}, "c>a": {0, 0}, "host>n1": {2e6, 0}, "n1>host": {0, 0}} {
		w, ok := got[way]
		if !ok {
			t.Errorf("way %s not measured", way)
			continue
		}
		if w.Expected.Rate != want.rate || w.Expected.Loss != want.loss {
			t.Errorf("way %s expected %+v, want rate %d loss %v", way, w.Expected, want.rate, want.loss)
		}
		if want.rate > 0 && w.Rate == 0 {
			t.Errorf("way %s: rate not measured", way)
		}
	}

	if err := lab.Shape(context.Background(), tl.Name, "a", "eth1", &topology.Shape{Loss: 30}, lab.Options{}); err != nil {
		t.Fatal(err)
	}
	rep = measureShapes(t, tl)
	if rep.Failed != 0 {
		t.Errorf("with a runtime loss of 30%%: %q", rep.Failures())
	}
	for _, p := range rep.Paths {
		for _, w := range p.Ways {
			if p.Cable == "a:eth1 -- c:eth0" && w.Expected.Loss != 30 {
				t.Errorf("%s %s -> %s expected loss %v, want the runtime shape's 30%%", p.Cable, w.From, w.To, w.Expected.Loss)
			}
		}
	}

	if out, err := exec.Command("tc", "-n", tl.Name+".a", "qdisc", "del", "dev", "eth0", "root").CombinedOutput(); err != nil {
		t.Fatalf("tc qdisc del: %v %s", err, out)
	}
	rep = measureShapes(t, tl)
	f := strings.Join(rep.Failures(), "\n")
	if rep.Failed == 0 || !strings.Contains(f, "cable a:eth0 -- b:eth0, a -> b: rate ") || !strings.Contains(f, "want 5.00mbit (4.00mbit to 5.50mbit)") {
		t.Errorf("with a's rate taken off behind nslab's back: %d failures %q, want one naming a:eth0 -- b:eth0, a -> b and its rate", rep.Failed, f)
	}
}

// TestMeasureNetemDelay measures a cable delayed 50ms each way (netem:
// in the stock-kernel VM here): about 50ms each way, one way read from
// UDP timestamps of the shared clock, and about 100ms round trip.
func TestMeasureNetemDelay(t *testing.T) {
	needNetem(t)
	sub := nslabtest.Subnet(t)
	tl := up(t, cable(sub, "{delay: 50ms}"))
	rep := measureShapes(t, tl)
	if len(rep.Paths) != 1 || rep.Failed != 0 {
		t.Fatalf("%d paths, failures %q; want 1 path, none", len(rep.Paths), rep.Failures())
	}
	p := rep.Paths[0]
	for _, w := range p.Ways {
		t.Logf("%s -> %s: one way %v (shortest %v), %d of %d arrived", w.From, w.To, w.Delay, w.DelayMin, w.Arrived, w.Sent)
		if w.Delay < 49*time.Millisecond || w.Delay > 60*time.Millisecond {
			t.Errorf("%s -> %s: one-way delay %v, want about 50ms", w.From, w.To, w.Delay)
		}
	}
	t.Logf("round trip %v", p.RTT)
	if p.RTT < 98*time.Millisecond || p.RTT > 120*time.Millisecond {
		t.Errorf("round trip %v, want about 100ms", p.RTT)
	}
}
