package check

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/nslab/nslab/topology"
)

// testLabs are the labs of TestExpect and random ones.
func testLabs(random int) []*topology.Lab {
	labs := []*topology.Lab{starLab(), routedLab("router"), routedLab("plain"), routedLab("v4only"),
		routedLab("noreturn"), p2pLab(), loopLab(), hostLab(), sourceLab(), rpFilterLab("1"), rpFilterLab("2"), runLab()}
	for seed := range uint64(random) {
		labs = append(labs, randomLab(seed))
	}
	return labs
}

// byPair groups probes by source and destination node.
func byPair(ps []Probe) map[[2]string][]Probe {
	m := map[[2]string][]Probe{}
	for _, p := range ps {
		k := [2]string{p.From, p.ToNode}
		m[k] = append(m[k], p)
	}
	return m
}

// TestPairProbesMatchExpect: the probes worked out for one pair are
// exactly Expect's probes of that pair, so a pair is sampled only if
// Expect expects something of it.
func TestPairProbesMatchExpect(t *testing.T) {
	for _, lab := range testLabs(300) {
		w := newWorld(lab)
		full := byPair(Expect(lab))
		wk := &walker{}
		for s := range w.stacks {
			for d := range w.stacks {
				if s == d {
					continue
				}
				got := w.pairProbes(wk, int32(s), int32(d))
				want := full[[2]string{w.stacks[s].name, w.stacks[d].name}]
				if diff := cmp.Diff(want, got, probeCmp); diff != "" {
					t.Fatalf("lab %s: pair %s -> %s (-Expect +pair):\n%s", lab.Name, w.stacks[s].name, w.stacks[d].name, diff)
				}
			}
		}
	}
}

// TestExpectSampleAll: a sample larger than the lab is Expect without
// the probes of a node's own addresses, in the same order.
func TestExpectSampleAll(t *testing.T) {
	for _, lab := range testLabs(100) {
		want := slices.DeleteFunc(Expect(lab), func(p Probe) bool { return p.From == p.ToNode })
		got, info := ExpectSample(lab, 1000, 3)
		if diff := cmp.Diff(want, got, probeCmp); diff != "" {
			t.Fatalf("lab %s: ExpectSample(all) differs from Expect (-want +got):\n%s", lab.Name, diff)
		}
		if pairs := len(byPair(want)); info.Pairs != pairs || info.Tried != info.Of {
			t.Errorf("lab %s: sample %+v, want %d pairs of all drawn", lab.Name, info, pairs)
		}
	}
}

// TestExpectSampleDeterministic: a seed gives the same pairs every
// time; another seed other ones.
func TestExpectSampleDeterministic(t *testing.T) {
	lab := leafSpineLab(10, 20, 2)
	a, infoA := ExpectSample(lab, 50, 1)
	b, infoB := ExpectSample(lab, 50, 1)
	c, _ := ExpectSample(lab, 50, 2)
	if diff := cmp.Diff(a, b, probeCmp); diff != "" || infoA != infoB {
		t.Errorf("same seed, different samples:\n%s%+v %+v", diff, infoA, infoB)
	}
	if cmp.Equal(a, c, probeCmp) {
		t.Error("seeds 1 and 2 drew the same sample")
	}
	want := 212 * 211
	if infoA.Pairs != 50 || infoA.Of != want || infoA.Seed != 1 || infoA.Asked != 50 || infoA.Tried < 50 {
		t.Errorf("sample = %+v, want 50 pairs of %d", infoA, want)
	}
	pairs := byPair(a)
	if len(pairs) != 50 {
		t.Errorf("%d distinct pairs, want 50", len(pairs))
	}
	full := byPair(Expect(lab))
	for k, ps := range pairs {
		if diff := cmp.Diff(full[k], ps, probeCmp); diff != "" {
			t.Errorf("pair %v differs from Expect:\n%s", k, diff)
		}
	}
	if !slices.IsSortedFunc(a, func(x, y Probe) int { return compareNames(lab, x.From, y.From) }) {
		t.Error("sampled probes are not sorted by source")
	}
}

func compareNames(lab *topology.Lab, a, b string) int {
	idx := func(n string) int {
		if n == topology.HostNode {
			return len(lab.Nodes)
		}
		return slices.IndexFunc(lab.Nodes, func(x *topology.Node) bool { return x.Name == n })
	}
	return idx(a) - idx(b)
}

// TestExpectSampleUniform: over many seeds every pair of a star is
// drawn about as often.
func TestExpectSampleUniform(t *testing.T) {
	l := newTestLab("uniform")
	l.bridge("br0")
	const n, k, seeds = 10, 9, 2000
	for i := range n {
		l.port(fmt.Sprintf("n%d:eth0", i), "br0", fmt.Sprintf("10.0.0.%d/24", i+1))
	}
	w := newWorld(l.lab)
	count := map[[2]string]int{}
	for seed := range int64(seeds) {
		ps, _ := w.sample(k, seed)
		for _, p := range ps {
			count[[2]string{p.From, p.ToNode}]++
		}
	}
	// Each of the 90 pairs is drawn with probability 9/90: 200 times
	// on average, with a standard deviation of about 13.
	if len(count) != n*(n-1) {
		t.Errorf("%d pairs drawn, want %d", len(count), n*(n-1))
	}
	for pair, c := range count {
		if c < 140 || c > 260 {
			t.Errorf("pair %v drawn %d times in %d samples, want about 200", pair, c, seeds)
		}
	}
}

// TestExpectSampleNothingExpected: a lab of isolated nodes yields no
// pair, after a bounded number of draws.
func TestExpectSampleNothingExpected(t *testing.T) {
	l := newTestLab("isolated")
	for i := range 300 {
		l.ifc(fmt.Sprintf("n%03d:eth0", i), fmt.Sprintf("10.0.%d.%d/24", i/200, 1+i%200))
	}
	ps, info := ExpectSample(l.lab, 10, 0)
	if len(ps) != 0 || info.Pairs != 0 || info.Tried != minTries || info.Of != 300*299 {
		t.Errorf("ExpectSample() = %d probes, %+v; want none after %d draws", len(ps), info, minTries)
	}
}

// TestLazyPerm: drawing all n elements yields each once.
func TestLazyPerm(t *testing.T) {
	for _, n := range []uint64{1, 2, 7, 1000} {
		p := lazyPerm{n: n, moved: map[uint64]uint64{}}
		rng := newTestRNG()
		seen := make([]bool, n)
		for range n {
			v := p.next(rng)
			if v >= n || seen[v] {
				t.Fatalf("n=%d: drew %d twice or out of range", n, v)
			}
			seen[v] = true
		}
		if len(p.moved) != 0 {
			t.Errorf("n=%d: %d positions still recorded after the last draw", n, len(p.moved))
		}
	}
}

func newTestRNG() *rand.PCG { return rand.NewPCG(1, 2) }
