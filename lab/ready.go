package lab

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/nslab/nslab/kernel"
	"github.com/nslab/nslab/plan"
	"github.com/nslab/nslab/topology"
)

// readyTimeout bounds how long up waits for the kernel to bring n links
// up: the kernel's linkwatch falls behind when tens of thousands of links
// change at once.
func readyTimeout(n int) time.Duration {
	return 10*time.Second + time.Duration(n)*5*time.Millisecond
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
	jobs := make(chan string)
	var mu sync.Mutex
	var errs []error
	var wg sync.WaitGroup
	for range min(workers, len(want)) {
		wg.Go(func() {
			for ns := range jobs {
				err := c.WaitUp(ctx, ns, want[ns])
				if ns != "" {
					c.Forget(ns)
				}
				if err == nil {
					m.waited(len(want[ns]))
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
	if err := c.WaitCarrier(ctx, bridges); err != nil {
		mu.Lock()
		errs = append(errs, err)
		mu.Unlock()
	} else {
		m.waited(len(bridges))
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
