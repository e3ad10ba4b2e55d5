package check

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/nslab/nslab/topology"
)

// Run probes lab: it computes Expect, then pings each source node's
// expected addresses from inside its namespace, nsPath(node), several
// nodes at once (opt.Workers). nsPath(topology.HostNode) is the root
// namespace, normally ""; any other node mapped to "" is refused rather
// than probed from the root namespace. The host's probes are pinned to
// the lab interface they are expected to leave by (see Options.HostDev).
//
// The report is always returned. The error joins what kept probes from
// being attempted (a missing namespace, no socket) and ctx's error.
//
// Every node probes every expected address, so a lab of N nodes needs
// about N² neighbour entries. The kernel caps them for all namespaces
// together (net.ipv4.neigh.default.gc_thresh3 and its IPv6 twin, 1024
// by default); beyond that, probes fail for want of an ARP or ND entry.
func Run(ctx context.Context, lab *topology.Lab, nsPath func(node string) string, opt Options) (*Report, error) {
	if lab == nil {
		return nil, errors.New("checking lab: no lab")
	}
	opt = opt.withDefaults()
	r := newReport(lab, Expect(lab))
	groups := bySource(r.Probes)
	errs := make([]error, len(groups))
	jobs := make(chan int)
	var wg sync.WaitGroup
	for range min(opt.Workers, len(groups)) {
		wg.Go(func() {
			for g := range jobs {
				errs[g] = r.probeGroup(ctx, groups[g], nsPath, opt)
			}
		})
	}
	for g := range groups {
		jobs <- g
	}
	close(jobs)
	wg.Wait()
	r.tally()
	return r, errors.Join(append(errs, ctx.Err())...)
}

// group is the probes of one source node, by index in Report.Probes.
type group struct {
	from string
	idx  []int
}

// bySource splits probes, which Expect sorts by source, into groups.
func bySource(ps []ProbeResult) []group {
	var gs []group
	for i, p := range ps {
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
	if p.From != topology.HostNode {
		return t
	}
	t.Dev = opt.HostDev(p.Dev)
	if p.Dev == "" {
		t.Dev = opt.HostDev(p.ToDev)
	}
	return t
}
