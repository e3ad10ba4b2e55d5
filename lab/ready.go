package lab

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nslab/nslab/kernel"
	"github.com/nslab/nslab/plan"
	"github.com/nslab/nslab/topology"
)

// readyTimeout bounds how long up waits for the kernel to bring n links
// up: the kernel's linkwatch falls behind when tens of thousands of links
// change at once, and on a loaded machine. Up stops waiting before that
// when no link has come up for readyStall: a bound of 10 s for all the
// wait failed ups of small labs at load 16 while links still came up.
func readyTimeout(n int) time.Duration {
	return 2*time.Minute + time.Duration(n)*5*time.Millisecond
}

// readyStall is how long up waits while no link comes up.
var readyStall = 20 * time.Second

// stalled is why up stopped waiting for links that still came up now and
// then, but not lately.
type stalled struct{ d time.Duration }

func (e stalled) Error() string {
	return fmt.Sprintf("no link came up for %v", e.d)
}

// stallContext is ctx, ended with a stalled cause once progress has not
// been called for stall. stop releases it.
func stallContext(ctx context.Context, stall time.Duration) (_ context.Context, progress, stop func()) {
	ctx, cancel := context.WithCancelCause(ctx)
	var last atomic.Int64 // time.Now().UnixNano() of the last progress
	last.Store(time.Now().UnixNano())
	go func() {
		tick := time.NewTicker(stall / 10)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case now := <-tick.C:
				if now.Sub(time.Unix(0, last.Load())) >= stall {
					cancel(stalled{stall})
					return
				}
			}
		}
	}()
	return ctx, func() { last.Store(time.Now().UnixNano()) }, func() { cancel(nil) }
}

// readyCount is the number of links and bridges waitReady waits for.
func readyCount(t *topology.Lab) int {
	want, bridges := linksByNamespace(t)
	n := len(bridges)
	for _, names := range want {
		n += len(names)
	}
	return n
}

// waitReady waits until every link of the lab is operationally up, one
// namespace per worker, and counts them on m as they come up.
func waitReady(ctx context.Context, c *kernel.Conn, t *topology.Lab, workers int, m *meter) error {
	want, bridges := linksByNamespace(t)
	n := len(bridges)
	for _, names := range want {
		n += len(names)
	}
	ctx, cancel := context.WithTimeout(ctx, readyTimeout(n))
	defer cancel()
	ctx, progress, stop := stallContext(ctx, readyStall)
	defer stop()
	jobs := make(chan string)
	var mu sync.Mutex
	var errs []error
	var wg sync.WaitGroup
	for range min(workers, len(want)) {
		wg.Go(func() {
			for ns := range jobs {
				err := c.WaitUpReport(ctx, ns, want[ns], func(n int) {
					progress()
					m.waited(n)
				})
				if ns != "" {
					c.Forget(ns)
				}
				if err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
			}
		})
	}
	for ns := range want {
		jobs <- ns
	}
	close(jobs)
	if err := c.WaitCarrierReport(ctx, bridges, func(n int) {
		progress()
		m.waited(n)
	}); err != nil {
		mu.Lock()
		errs = append(errs, err)
		mu.Unlock()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// linksByNamespace lists the links that must come up, by namespace ("" is
// the root namespace), and apart the bridges that must have carrier. A
// bridge without ports never has: it is left out.
func linksByNamespace(t *topology.Lab) (want map[string][]string, bridges []string) {
	want = map[string][]string{}
	joined := map[*topology.Bridge]bool{}
	for _, l := range t.Links {
		if l.Kind == topology.Trunk {
			joined[l.Bridge], joined[l.Uplink] = true, true
		}
	}
	for _, b := range t.Bridges {
		if len(t.Ports(b)) > 0 || joined[b] {
			bridges = append(bridges, plan.BridgeName(t.Name, b.Name))
		}
	}
	for _, l := range t.Links {
		switch l.Kind {
		case topology.Port:
			want[""] = append(want[""], plan.PortName(t.Name, l.A.Node, l.A.Name))
		case topology.Trunk:
			want[""] = append(want[""], plan.TrunkName(t.Name, l.Bridge.Name, "a"), plan.TrunkName(t.Name, l.Bridge.Name, "b"))
		}
	}
	for _, i := range t.Host {
		want[""] = append(want[""], plan.HostIfName(t.Name, i.Name))
	}
	for _, n := range t.Nodes {
		ns := plan.NetnsName(t.Name, n.Name)
		for _, i := range n.Interfaces {
			// A dummy's operational state stays unknown, a vrf's follows
			// nothing of the lab's.
			if i.Kind != topology.KindDummy && i.Kind != topology.KindVRF {
				want[ns] = append(want[ns], i.Name)
			}
		}
	}
	return want, bridges
}
