package check

import (
	"fmt"
	"net/netip"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nslab/nslab/topology"
)

// leafSpineLab builds a routed leaf-spine fabric as a model, dual-stack:
// each leaf router has a bridge of hosts (default routes to the leaf),
// a /31 (and a /64) cable to every spine router, and a route to every
// other leaf's subnet through spine M mod spines; each spine routes
// every leaf's subnet to that leaf. It is built directly, in O(nodes ×
// leaves), as validation would leave it.
func leafSpineLab(leaves, hosts, spines int) *topology.Lab {
	l := &topology.Lab{Name: fmt.Sprintf("ls%dx%d", leaves, hosts)}
	pfx := func(format string, a ...any) netip.Prefix { return netip.MustParsePrefix(fmt.Sprintf(format, a...)) }
	addr := func(format string, a ...any) netip.Addr { return netip.MustParseAddr(fmt.Sprintf(format, a...)) }
	node := func(name string, router bool) *topology.Node {
		n := &topology.Node{Name: name, Router: router}
		l.Nodes = append(l.Nodes, n)
		return n
	}
	ifc := func(n *topology.Node, dev string, addrs ...netip.Prefix) *topology.Interface {
		i := &topology.Interface{Node: n.Name, Name: dev, Addresses: addrs}
		n.Interfaces = append(n.Interfaces, i)
		return i
	}
	port := func(i *topology.Interface, b *topology.Bridge) {
		k := &topology.Link{Kind: topology.Port, A: i, Bridge: b}
		i.Link = k
		l.Links = append(l.Links, k)
	}
	cable := func(a, b *topology.Interface) {
		if b.Ref() < a.Ref() {
			a, b = b, a
		}
		k := &topology.Link{Kind: topology.Peer, A: a, B: b}
		a.Link, b.Link = k, k
		l.Links = append(l.Links, k)
	}
	route := func(n *topology.Node, to netip.Prefix, via netip.Addr) {
		n.Routes = append(n.Routes, topology.Route{To: to, Via: via})
	}
	spine := make([]*topology.Node, spines)
	for s := range spines {
		spine[s] = node(fmt.Sprintf("spine%d", s), true)
	}
	for L := range leaves {
		leaf := node(fmt.Sprintf("leaf%03d", L), true)
		br := &topology.Bridge{Name: fmt.Sprintf("br%03d", L)}
		l.Bridges = append(l.Bridges, br)
		port(ifc(leaf, "eth0", pfx("10.%d.%d.1/24", 1+L/256, L%256), pfx("fd10:1:%x::1/64", L)), br)
		for h := range hosts {
			n := node(fmt.Sprintf("h%03d-%03d", L, h), false)
			port(ifc(n, "eth0", pfx("10.%d.%d.%d/24", 1+L/256, L%256, h+2), pfx("fd10:1:%x::%x/64", L, h+2)), br)
			route(n, pfx("0.0.0.0/0"), addr("10.%d.%d.1", 1+L/256, L%256))
			route(n, pfx("::/0"), addr("fd10:1:%x::1", L))
		}
		for s := range spines {
			a := ifc(leaf, fmt.Sprintf("eth%d", s+1), pfx("10.100.%d.%d/31", L, 2*s), pfx("fd10:2:%x:%x::1/64", L, s))
			b := ifc(spine[s], fmt.Sprintf("eth%d", L), pfx("10.100.%d.%d/31", L, 2*s+1), pfx("fd10:2:%x:%x::2/64", L, s))
			cable(a, b)
			route(spine[s], pfx("10.%d.%d.0/24", 1+L/256, L%256), addr("10.100.%d.%d", L, 2*s))
			route(spine[s], pfx("fd10:1:%x::/64", L), addr("fd10:2:%x:%x::1", L, s))
		}
		for M := range leaves {
			if M != L {
				s := M % spines
				route(leaf, pfx("10.%d.%d.0/24", 1+M/256, M%256), addr("10.100.%d.%d", L, 2*s+1))
				route(leaf, pfx("fd10:1:%x::/64", M), addr("fd10:2:%x:%x::2", L, s))
			}
		}
	}
	slices.SortFunc(l.Nodes, func(a, b *topology.Node) int { return strings.Compare(a.Name, b.Name) })
	return l
}

// measure runs fn and returns its wall time and the bytes it allocated.
func measure(fn func()) (time.Duration, uint64) {
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	start := time.Now()
	fn()
	elapsed := time.Since(start)
	runtime.ReadMemStats(&after)
	return elapsed, after.TotalAlloc - before.TotalAlloc
}

// runPlan is the part of Run before any packet: model, choice of probes
// (all, or a sample) and waves.
func runPlan(lab *topology.Lab, opt Options) *Report {
	opt = opt.withDefaults()
	lim := neighLimits{thresh3: [2]int{defaultThresh3, defaultThresh3}, hold: neighHold}
	if opt.limits != nil {
		lim = *opt.limits
	}
	w := newWorld(lab)
	probes, sample := w.choose(opt, lim)
	r := newReport(lab, probes)
	r.Sample = sample
	r.Waves = len(w.waves(r.Probes, lim.budget()))
	return r
}

// TestSample10k is the goal of sampling: a 10,000-node routed lab, 100
// pairs, in well under 100 ms and 100 MB.
func TestSample10k(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a 10,104-node model")
	}
	lab := leafSpineLab(100, 100, 4)
	var r *Report
	elapsed, alloc := measure(func() { r = runPlan(lab, Options{Sample: 100, Seed: 1}) })
	t.Logf("%d nodes: %d pairs sampled of %d (%d drawn), %d probes, %d waves, in %v, %.1f MB allocated",
		len(lab.Nodes), r.Sample.Pairs, r.Sample.Of, r.Sample.Tried, len(r.Probes), r.Waves, elapsed, float64(alloc)/1e6)
	if r.Sample.Pairs != 100 || len(r.Probes) < 200 {
		t.Errorf("sampled %d pairs, %d probes; want 100 pairs, 2 probes or more each", r.Sample.Pairs, len(r.Probes))
	}
	if alloc > 50<<20 {
		t.Errorf("sampling allocated %d MB, want under 50", alloc>>20)
	}
	// About 30ms on an idle machine (see BenchmarkSample10k); the bound
	// only catches a return to quadratic work, which takes minutes here.
	if elapsed > 3*time.Second {
		t.Errorf("sampling took %v, want well under 100ms on an idle machine", elapsed)
	}
}

// BenchmarkSample10k: Run's work before pinging, with Sample=100, on a
// 10,104-node leaf-spine (100 leaves of 100 hosts, 4 spines).
func BenchmarkSample10k(b *testing.B) {
	lab := leafSpineLab(100, 100, 4)
	b.ReportAllocs()
	for b.Loop() {
		runPlan(lab, Options{Sample: 100, Seed: 1})
	}
}

// BenchmarkAuto10k: the same with the automatic choice (AutoSample
// pairs).
func BenchmarkAuto10k(b *testing.B) {
	lab := leafSpineLab(100, 100, 4)
	b.ReportAllocs()
	for b.Loop() {
		runPlan(lab, Options{})
	}
}

// BenchmarkExpectLeafSpine1000: Expect of all pairs of a routed
// 1,014-node leaf-spine (10 leaves of 100 hosts, 4 spines), about two
// million probes through up to three routers.
func BenchmarkExpectLeafSpine1000(b *testing.B) {
	lab := leafSpineLab(10, 100, 4)
	b.ReportAllocs()
	for b.Loop() {
		Expect(lab)
	}
}
