package check

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nslab/nslab/topology"
)

// Run probes lab: it works out what to probe (all of Expect, or a
// sample of pairs, see Options.Sample), then pings each source node's
// expected addresses from inside its namespace, nsPath(node), several
// nodes at once (opt.Workers). nsPath(topology.HostNode) is the root
// namespace, normally ""; any other node mapped to "" is refused rather
// than probed from the root namespace. The host's probes are pinned to
// the lab interface they are expected to leave by (see Options.HostDev).
//
// The report is always returned. The error joins what kept probes from
// being attempted (a missing namespace, no socket) and ctx's error.
//
// The kernel's neighbour tables (net.ipv4.neigh.default.gc_thresh3 and
// its IPv6 twin, 1024 entries by default) serve all namespaces together,
// and probing all pairs of N nodes needs about N² entries. So a lab of
// more than MatrixMax nodes is probed in full only if its estimate fits
// half the table; otherwise Run samples AutoSample pairs and the report
// says why. Either way Run probes in waves that each resolve at most
// half the table, waiting between waves, when needed, until the kernel
// may evict the entries of the earlier ones.
func Run(ctx context.Context, lab *topology.Lab, nsPath func(node string) string, opt Options) (*Report, error) {
	if lab == nil {
		return nil, errors.New("checking lab: no lab")
	}
	opt = opt.withDefaults()
	// A vrf of a node is a stack of its own (NODE@VRF), probed from the
	// node's namespace.
	nodePath := nsPath
	nsPath = func(stack string) string { return nodePath(StackNode(stack)) }
	lim := readNeighLimits()
	if opt.limits != nil {
		lim = *opt.limits
	}
	w := newWorld(lab)
	probes, sample := w.choose(opt, lim)
	if opt.Sources != nil {
		probes = slices.DeleteFunc(probes, func(p Probe) bool { return !opt.Sources(StackNode(p.From)) })
	}
	r := newReport(lab, probes)
	r.Mode, r.Sample = ModeFull, sample
	if sample != nil {
		r.Mode = ModeSampled
	}
	r.classify(lab, opt.Faults)
	errs := r.probeWaves(ctx, w, nsPath, opt, lim)
	r.tally()
	return r, errors.Join(append(errs, ctx.Err())...)
}

// choose returns the probes of all pairs, or of a sample of pairs with
// how it was drawn.
func (w *world) choose(opt Options, lim neighLimits) ([]Probe, *Sample) {
	switch {
	case opt.Sample < 0 || (opt.Sample == 0 && len(w.stacks) <= MatrixMax):
		return w.expectAll(), nil
	case opt.Sample > 0:
		ps, s := w.sample(opt.Sample, opt.Seed)
		return ps, &s
	}
	est, budget := w.neighEstimate(), lim.budget()
	if est[v4] <= budget[v4] && est[v6] <= budget[v6] {
		return w.expectAll(), nil
	}
	ps, s := w.sample(opt.autoSample, opt.Seed)
	s.Auto, s.Reason = true, autoReason(est, lim)
	return ps, &s
}

// probeWaves probes wave after wave, each once the neighbour tables
// have room for it. When the probes do not fit half the table in one
// wave, their neighbours are primed (see primeEntry): the waves are then
// sized by limits.primeBudget, and each wave deletes after its probes
// the entries it made.
func (r *Report) probeWaves(ctx context.Context, w *world, nsPath func(string) string, opt Options, lim neighLimits) []error {
	waves := w.waves(r.Probes, lim.budget())
	var pr *primer
	if len(waves) > 1 {
		waves = w.waves(r.Probes, lim.primeBudget())
		pr = newPrimer(w, nsPath)
	}
	r.Waves = len(waves)
	var errs []error
	seen := map[string]bool{} // a node failing in several waves
	var log waveLog
	for k, wv := range waves {
		need := wv.need
		if pr != nil {
			need = [2]int{} // permanent entries take no room
		}
		err := ctx.Err()
		if err == nil {
			err = log.waitRoom(ctx, need, lim)
		}
		if err != nil {
			r.stopped(waves[k:], err)
			break
		}
		opt.step("wave %d of %d: %d probes", k+1, len(waves), len(wv.idx))
		werrs, clean := r.burst(ctx, wv.idx, nsPath, opt, pr)
		for _, err := range werrs {
			if err != nil && !seen[err.Error()] {
				seen[err.Error()] = true
				errs = append(errs, err)
			}
		}
		if pr != nil && !clean {
			need = wv.need // what was not forgotten may hold the table
		}
		log = append(log, waveEnd{time.Now(), need})
	}
	if ctx.Err() == nil {
		r.retry(ctx, waves, nsPath, opt)
	}
	return errs
}

// retry probes once more, a second after the others and in a wave of
// their own, the probes that failed: right after a big lab comes up, the
// bridges' flood of the new nodes' IPv6 multicast can overflow the
// kernel's input backlog and drop a probe's first neighbour solicitation
// (the next one would follow only after a second), and the kernel's
// shared neighbour table can still be full of the lab's start-up traffic;
// a probe then fails for want of a packet or an entry rather than of a
// path. Report.Retried says how many were sent again; the second result
// is final, so a broken path still fails, a second later.
func (r *Report) retry(ctx context.Context, waves []wave, nsPath func(string) string, opt Options) {
	var idx []int
	nodes := map[string]bool{}
	for _, wv := range waves {
		for _, i := range wv.idx {
			if !r.Probes[i].OK && r.Probes[i].Fault == "" { // a faulted probe is expected to fail
				idx = append(idx, i)
			}
		}
		for _, n := range wv.nodes {
			nodes[n] = true
		}
	}
	if len(idx) == 0 {
		return
	}
	select {
	case <-ctx.Done():
		return
	case <-time.After(time.Second):
	}
	forgetWave(sortedNodes(nodes), nsPath, opt.Workers, forgetNeighbours)
	r.Retried = len(idx)
	if opt.trace != nil {
		var what []string
		for _, i := range idx {
			what = append(what, fmt.Sprintf("%s -> %s (%s)", r.Probes[i].From, r.Probes[i].To, r.Probes[i].Err))
		}
		opt.step("retry, unprimed: %s", strings.Join(what, ", "))
	}
	r.burst(ctx, idx, nsPath, opt, nil)
}

func sortedNodes(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for n := range m {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// forgetWave deletes the neighbour entries learnt in the nodes of a wave
// that probing filled, so that the next wave finds the kernel's shared
// table free at once. Entries that are in use (REACHABLE, for up to 45 s)
// are never evicted to make room, and the ones a probe through routers
// leaves behind outnumber what the wave planner counts (the routers'
// link-local solicitations add their own). It reports whether every
// node's entries are gone; the host's are left alone, and the next wave
// then waits as if none were deleted.
func forgetWave(nodes []string, nsPath func(string) string, workers int, forget func(string) error) bool {
	var ok atomic.Bool
	ok.Store(true)
	jobs := make(chan string)
	var wg sync.WaitGroup
	for range max(1, min(workers, len(nodes))) {
		wg.Go(func() {
			for n := range jobs {
				if n == topology.HostNode || forget(nsPath(n)) != nil {
					ok.Store(false)
				}
			}
		})
	}
	for _, n := range nodes {
		jobs <- n
	}
	close(jobs)
	wg.Wait()
	return ok.Load()
}

// stopped fails the probes of waves that were not sent.
func (r *Report) stopped(waves []wave, err error) {
	for _, w := range waves {
		for _, i := range w.idx {
			r.Probes[i].Err = fmt.Sprintf("stopped: %v", err)
		}
	}
}

// group is the probes of one source node, by index in Report.Probes.
type group struct {
	from string
	idx  []int
}

// bySource splits probes idx of ps, which come sorted by source, into
// groups.
func bySource(ps []ProbeResult, idx []int) []group {
	var gs []group
	for _, i := range idx {
		p := &ps[i]
		if len(gs) == 0 || gs[len(gs)-1].from != p.From {
			gs = append(gs, group{from: p.From})
		}
		gs[len(gs)-1].idx = append(gs[len(gs)-1].idx, i)
	}
	return gs
}

// probeGroup pings one source node's targets and records the results.
// Groups write disjoint probes, so they may run concurrently.
func (r *Report) probeGroup(ctx context.Context, g group, nsPath func(string) string, opt Options) error {
	path := nsPath(g.from)
	if path == "" && g.from != topology.HostNode {
		err := fmt.Errorf("node %s: no namespace to probe from", g.from)
		for _, i := range g.idx {
			r.Probes[i].Err = err.Error()
		}
		return err
	}
	targets := make([]Target, len(g.idx))
	for k, i := range g.idx {
		targets[k] = target(r.Probes[i].Probe, opt)
	}
	res, err := ping(ctx, path, targets, opt)
	for k, i := range g.idx {
		r.Probes[i].OK, r.Probes[i].RTT, r.Probes[i].Err = res[k].OK, res[k].RTT, res[k].Err
	}
	if err != nil {
		return fmt.Errorf("node %s: %w", g.from, err)
	}
	return nil
}

// target turns a probe into a ping target, from the expected source.
// The host's probes are pinned to their lab interface (the owning one
// for its own addresses) so that none can leave by another, even if the
// lab is not up as modelled.
func target(p Probe, opt Options) Target {
	t := Target{Addr: p.To, Src: p.Src}
	if strings.Contains(p.From, "@") {
		// From inside a vrf: pinned to the vrf's member it leaves by,
		// whose table the kernel then routes with.
		t.Dev = cmp.Or(p.Dev, p.ToDev)
		return t
	}
	if p.From != topology.HostNode {
		return t
	}
	t.Dev = opt.HostDev(p.Dev)
	if p.Dev == "" {
		t.Dev = opt.HostDev(p.ToDev)
	}
	return t
}
