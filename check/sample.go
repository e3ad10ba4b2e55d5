package check

import (
	"cmp"
	"math/bits"
	"math/rand/v2"
	"slices"

	"github.com/nslab/nslab/topology"
)

// Sample says how a sampled check chose what it probed. The unit is a
// pair of distinct nodes (the host counts as one), source then
// destination: a sampled pair is probed at every address of the
// destination that the source is expected to reach.
type Sample struct {
	// Pairs is how many pairs were probed.
	Pairs int `json:"pairs"`
	// Of is how many ordered pairs of distinct nodes the lab has.
	Of int `json:"of"`
	// Asked is the sample size asked for.
	Asked int `json:"asked"`
	// Seed drives the drawing: the same lab, size and seed give the
	// same pairs.
	Seed int64 `json:"seed"`
	// Tried is how many pairs were drawn: the model expects nothing of
	// Tried-Pairs of them, which were skipped.
	Tried int `json:"tried"`
	// Auto is set when Run chose to sample by itself; Reason says why.
	Auto   bool   `json:"auto,omitempty"`
	Reason string `json:"reason,omitempty"`
}

// Limits of the drawing: a sample of n pairs draws at most
// max(sampleTries*n, minTries) of them, so that a lab where most pairs
// expect nothing costs a bounded time.
const (
	sampleTries = 64
	minTries    = 1 << 16
)

// ExpectSample draws up to n pairs of distinct nodes among those Expect
// has probes for, uniformly and reproducibly: the same lab, n and seed
// always give the same pairs. It returns the probes of the pairs drawn,
// in Expect's order, exactly as Expect lists them.
//
// Each pair costs O(addresses of its destination × path length × log
// routes), after an index of the lab in O(addresses): a sample of a few
// hundred pairs of a lab of ten thousand nodes takes milliseconds.
// Pairs are drawn without replacement; those the model expects nothing
// of are skipped, and drawing stops after max(64·n, 65536) of them, so
// a lab where nearly nothing is reachable may yield fewer than n.
func ExpectSample(lab *topology.Lab, n int, seed int64) ([]Probe, Sample) {
	return newWorld(lab).sample(n, seed)
}

// drawn is a pair drawn and its probes.
type drawn struct {
	from, to int32
	probes   []Probe
}

func (w *world) sample(n int, seed int64) ([]Probe, Sample) {
	m := uint64(len(w.stacks))
	info := Sample{Asked: n, Seed: seed}
	if m < 2 || n <= 0 {
		return nil, info
	}
	total := m * (m - 1)
	info.Of = int(total)
	tries := min(total, uint64(max(sampleTries*n, minTries)))
	rng := rand.NewPCG(uint64(seed), pcgStream)
	perm := lazyPerm{n: total, moved: map[uint64]uint64{}}
	wk := &walker{}
	var picked []drawn
	for len(picked) < n && uint64(info.Tried) < tries {
		info.Tried++
		from, to := pairAt(perm.next(rng), m)
		if ps := w.pairProbes(wk, from, to); len(ps) > 0 {
			picked = append(picked, drawn{from, to, ps})
		}
	}
	slices.SortFunc(picked, func(a, b drawn) int {
		return cmp.Or(cmp.Compare(a.from, b.from), cmp.Compare(a.to, b.to))
	})
	var out []Probe
	for _, p := range picked {
		out = append(out, p.probes...)
	}
	info.Pairs = len(picked)
	return out, info
}

// pcgStream is the second half of the generator's seed.
const pcgStream = 0x6e736c6162636b // "nslabck"

// pairAt maps k in [0, m(m-1)) to a pair of distinct stacks.
func pairAt(k, m uint64) (int32, int32) {
	from, to := k/(m-1), k%(m-1)
	if to >= from {
		to++
	}
	return int32(from), int32(to)
}

// pairProbes returns the probes from stack from to the addresses of
// stack to, as Expect lists them.
func (w *world) pairProbes(wk *walker, from, to int32) []Probe {
	wk.reset()
	s := w.stacks[from]
	for k := w.dstStart[to]; k < w.dstStart[to+1]; k++ {
		w.probe(wk, s, k)
	}
	if len(wk.recs) == 0 {
		return nil
	}
	out := make([]Probe, len(wk.recs))
	for i, r := range wk.recs {
		out[i] = w.toProbe(s, r, wk.paths)
	}
	return out
}

// lazyPerm yields a uniformly random permutation of [0, n) one element
// at a time: a Fisher–Yates shuffle that records only the positions it
// has moved, so k draws cost O(k) whatever n.
type lazyPerm struct {
	n, i  uint64
	moved map[uint64]uint64
}

func (p *lazyPerm) at(k uint64) uint64 {
	if v, ok := p.moved[k]; ok {
		return v
	}
	return k
}

// next returns the next element; it must not be called more than n
// times.
func (p *lazyPerm) next(r *rand.PCG) uint64 {
	j := p.i + uniform(r, p.n-p.i)
	v := p.at(j)
	p.moved[j] = p.at(p.i)
	delete(p.moved, p.i)
	p.i++
	return v
}

// uniform returns a uniform number in [0, n) (Lemire's method). It is
// written out rather than taken from math/rand/v2, whose algorithms may
// change between Go releases: a seed must keep giving the same sample.
func uniform(r *rand.PCG, n uint64) uint64 {
	hi, lo := bits.Mul64(r.Uint64(), n)
	if lo < n {
		floor := -n % n
		for lo < floor {
			hi, lo = bits.Mul64(r.Uint64(), n)
		}
	}
	return hi
}
