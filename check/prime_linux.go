package check

import (
	"sort"
	"sync"

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
}

// linkRead is an interface as read from its node; ok is false when it
// could not be read, and its entries are then left to the kernel.
type linkRead struct {
	la kernel.LinkAddr
	ok bool
}

func newPrimer(w *world, nsPath func(string) string) *primer {
	return &primer{w: w, nsPath: nsPath, nb: kernel.NewNeighbours(), links: map[[2]int32]linkRead{}}
}

// wave makes entries in their nodes, up to workers namespaces at once:
// it reads the interfaces it has not read yet (the index of the one that
// holds an entry, the MAC address of the one that answers), then writes
// each node's entries. What fails is left to the kernel to resolve.
func (p *primer) wave(entries []primeEntry, workers int) {
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
	for _, e := range entries {
		at, own := p.links[[2]int32{e.stack, e.ifc}], p.links[[2]int32{e.own, e.ownIfc}]
		path := p.nsPath(p.w.stacks[e.stack].name)
		if !at.ok || !own.ok || path == "" {
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
		p.nb.Prime(paths[i], byNS[paths[i]]) // a failure costs a solicitation
	})
}

// forget deletes the neighbour entries of the namespace at path, primed
// and learnt, through its handle, which it closes (see
// kernel.ForgetNeighbours).
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
