package check

import (
	"sort"
	"sync"
	"sync/atomic"

	"github.com/nslab/nslab/kernel"
)

// primer primes waves (see primeEntry) through one kernel.Neighbours,
// and keeps the interfaces it has read for the whole check.
type primer struct {
	w      *world
	nsPath func(stack string) string
	nb     *kernel.Neighbours
	mu     sync.Mutex
	links  map[[2]int32]linkRead // by stack and interface
	// primed is what was primed, by namespace, for finish to remove.
	primed map[string][]kernel.Neigh
}

// linkRead is an interface as read from its node; ok is false when it
// could not be read, and its entries are then left to the kernel.
type linkRead struct {
	la kernel.LinkAddr
	ok bool
}

func newPrimer(w *world, nsPath func(string) string) *primer {
	return &primer{w: w, nsPath: nsPath, nb: kernel.NewNeighbours(), links: map[[2]int32]linkRead{}, primed: map[string][]kernel.Neigh{}}
}

// wave makes entries in their nodes, up to workers namespaces at once:
// it reads the interfaces it has not read yet (the index of the one that
// holds an entry, the MAC address of the one that answers), then writes
// each node's entries. What fails is left to the kernel to resolve. It
// reports whether every entry was made.
func (p *primer) wave(entries []primeEntry, workers int) bool {
	var need [][2]int32
	for _, e := range entries {
		for _, k := range [][2]int32{{e.stack, e.ifc}, {e.own, e.ownIfc}} {
			if _, ok := p.links[k]; !ok {
				p.links[k] = linkRead{}
				need = append(need, k)
			}
		}
	}
	parallelN(len(need), workers, func(i int) {
		k := need[i]
		s := p.w.stacks[k[0]]
		la, err := p.nb.Link(p.nsPath(s.name), s.ifaces[k[1]].dev)
		p.mu.Lock()
		p.links[k] = linkRead{la, err == nil && len(la.MAC) > 0}
		p.mu.Unlock()
	})
	byNS := map[string][]kernel.Neigh{}
	var all atomic.Bool
	all.Store(true)
	for _, e := range entries {
		at, own := p.links[[2]int32{e.stack, e.ifc}], p.links[[2]int32{e.own, e.ownIfc}]
		path := p.nsPath(p.w.stacks[e.stack].name)
		if !at.ok || !own.ok || path == "" {
			all.Store(false)
			continue
		}
		byNS[path] = append(byNS[path], kernel.Neigh{Index: at.la.Index, Addr: e.addr, MAC: own.la.MAC})
	}
	paths := make([]string, 0, len(byNS))
	for path := range byNS {
		paths = append(paths, path)
	}
	sort.Strings(paths)
	parallelN(len(paths), workers, func(i int) {
		if p.nb.Prime(paths[i], byNS[paths[i]]) != nil {
			all.Store(false) // a failure costs a solicitation
		}
	})
	for _, path := range paths {
		p.primed[path] = append(p.primed[path], byNS[path]...)
	}
	return all.Load()
}

// finish deletes the primed entries that the kernel has not evicted,
// workers namespaces at once, so that none outlives the check (a noarp
// entry is never checked again: it would outlive a change of the MAC
// address it names).
func (p *primer) finish(workers int) {
	paths := make([]string, 0, len(p.primed))
	for path := range p.primed {
		paths = append(paths, path)
	}
	sort.Strings(paths)
	parallelN(len(paths), workers, func(i int) {
		p.nb.Unprime(paths[i], p.primed[paths[i]])
	})
	p.nb.Close()
	clear(p.primed)
}

// forget deletes the neighbour entries of the namespace at path through
// its handle (see kernel.ForgetNeighbours).
func (p *primer) forget(path string) error { return p.nb.Forget(path) }

// close closes the handles still open (of nodes that answer for
// entries without holding any); the interfaces read are kept.
func (p *primer) close() { p.nb.Close() }

// parallelN calls f(0) … f(n-1), workers at a time.
func parallelN(n, workers int, f func(int)) {
	jobs := make(chan int)
	var wg sync.WaitGroup
	for range max(1, min(workers, n)) {
		wg.Go(func() {
			for i := range jobs {
				f(i)
			}
		})
	}
	for i := range n {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
}
