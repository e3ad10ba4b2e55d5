package lab

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nslab/nslab/kernel"
	"github.com/nslab/nslab/plan"
	"github.com/nslab/nslab/service"
)

// maxErrors caps how many failures of one stage are reported.
const maxErrors = 8

// apply runs a plan stage by stage; the operations of a stage run on a
// bounded pool of workers. It stops after the first stage that fails.
// Before a stage that needs it, and at the end, it waits until ready says
// the links are up (ready may be nil).
func apply(ctx context.Context, c *kernel.Conn, p *plan.Plan, opt *Options, ready func(*meter) error) error {
	lossByNft(p)
	waitLinks := 0
	if ready != nil && p.Made != nil {
		waitLinks = readyCount(p.Made)
	}
	m := newMeter(p, waitLinks, opt.Progress)
	waited := false
	for _, s := range p.Stages {
		if s.AfterLinksUp && ready != nil && !waited {
			if err := ready(m); err != nil {
				return err
			}
			waited = true
		}
		start := time.Now()
		err := runStage(ctx, c, s, opt.workers(), false, func(op kernel.Op) { m.tick(s.Name, op) })
		if err != nil {
			return err
		}
		opt.timing(s.Name, len(s.Ops), time.Since(start))
	}
	if ready != nil && !waited {
		return ready(m)
	}
	return nil
}

// runStage runs the operations of a stage on a pool of workers. Those of
// one node namespace run in order on one worker, which then closes the
// namespace's sockets: a lab of 10,000 nodes must not hold 10,000 of them.
// Operations in the root namespace run one by one in parallel. After a
// failure the stage stops, unless every says to run every operation
// (teardown).
func runStage(ctx context.Context, c *kernel.Conn, s plan.Stage, workers int, every bool, tick func(kernel.Op)) error {
	groups := byNamespace(s.Ops)
	var (
		next   atomic.Int64
		mu     sync.Mutex
		errs   []error
		failed atomic.Bool
		wg     sync.WaitGroup
	)
	run := func(op kernel.Op) {
		err := op.Apply(c)
		mu.Lock()
		defer mu.Unlock()
		if err == nil {
			tick(op)
			return
		}
		failed.Store(true)
		if len(errs) < maxErrors {
			errs = append(errs, err)
		}
	}
	for range min(workers, len(groups)) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(groups) || !every && failed.Load() || ctx.Err() != nil {
					return
				}
				for _, op := range groups[i] {
					if every || !failed.Load() {
						run(op)
					}
				}
				if ns := groups[i][0].Namespace(); ns != "" {
					c.Forget(ns)
				}
			}
		})
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		errs = append(errs, fmt.Errorf("stopped at stage %s: %w", s.Name, err))
	}
	return errors.Join(errs...)
}

// byNamespace groups operations: one group per node namespace, in the
// order of their first operation, and one group per root operation.
func byNamespace(ops []kernel.Op) [][]kernel.Op {
	var groups [][]kernel.Op
	index := map[string]int{}
	for _, op := range ops {
		ns := op.Namespace()
		if i, ok := index[ns]; ok && ns != "" {
			groups[i] = append(groups[i], op)
			continue
		}
		index[ns] = len(groups)
		groups = append(groups, []kernel.Op{op})
	}
	return groups
}

// Options tune how a lab is built and torn down. The zero value is ready
// to use.
type Options struct {
	// Workers bounds the kernel operations in flight; 0 sizes it to the
	// machine.
	Workers int
	// Logf receives messages for the user; nil discards them.
	Logf func(format string, args ...any)
	// Progress receives reports of a plan being applied, with an
	// estimate of the time left, after each of its operations (and links
	// seen up); nil discards them. It is called from several goroutines,
	// one at a time.
	Progress func(Progress)
	// Timings logs how long each stage took, through Logf.
	Timings bool
	// KeepFailed leaves a lab that failed to build as it is, for
	// inspection, instead of removing what was made; Down removes it.
	KeepFailed bool
	// Force builds a lab that the estimate of its kernel memory,
	// namespaces, mounts and open files says this machine cannot hold.
	Force bool
	// Replace lets Up change a running lab in a way that removes or
	// remakes nodes that run processes, ending them, or that stops
	// services the file no longer has; without it Up refuses such a
	// change (ReplaceError).
	Replace bool
	// Repair makes up on a running lab inspect every node as well, and
	// put back what differs from the file (drift): addresses, nslab's
	// routes, sysctls, links' state. The root namespace's side is
	// compared always.
	Repair bool
	// ServiceBackoff tunes how the lab's supervisor restarts services
	// that exit; nil means service.DefaultBackoff. ServiceLogCap is the
	// size at which a service's log is rotated; 0 means
	// service.DefaultLogCap. Both take effect on every up.
	ServiceBackoff *service.BackoffPolicy
	ServiceLogCap  int64
}

func (o *Options) timing(stage string, ops int, d time.Duration) {
	if o.Timings {
		o.logf("%-12s %6d ops  %v", stage, ops, d.Round(10*time.Microsecond))
	}
}

func (o *Options) workers() int {
	if o.Workers > 0 {
		return o.Workers
	}
	return max(4, 2*runtime.NumCPU())
}

func (o *Options) logf(format string, args ...any) {
	if o.Logf != nil {
		o.Logf(format, args...)
	}
}
