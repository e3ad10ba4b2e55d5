package check

import (
	"errors"
	"os"
	"sync"

	"github.com/nslab/nslab/kernel"
)

// primer primes the waves of a check (see primeEntry) and keeps the
// interfaces it has read for the whole check.
type primer struct {
	w      *world
	nsPath func(stack string) string
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
	return &primer{w: w, nsPath: nsPath, links: map[[2]int32]linkRead{}}
}

// primeWave is the priming of one wave.
type primeWave struct {
	p       *primer
	entries []primeEntry
	at      []*visit   // the visit of each entry's node
	read    []linkNeed // interfaces not read yet
	made    map[*visit][]kernel.Neigh
	// learn are the bridged interfaces the wave's probes are sent to,
	// and the visits of their nodes (see learnEthertype).
	learn map[[2]int32]*visit
	// flush are the namespaces whose learnt entries go after the wave:
	// those of nodes that resolve a neighbour the check could not prime.
	flush map[string]bool
}

// linkNeed is an interface to read, and the visit of its node.
type linkNeed struct {
	key [2]int32
	at  *visit
}

// plan works out a wave's entries and adds the namespaces they need to
// vs: a netlink socket in each node that holds entries or answers for
// one whose interface has not been read yet.
func (p *primer) plan(ps []ProbeResult, idx []int, vs *visits) *primeWave {
	entries, unprimed := p.w.primes(ps, idx)
	pw := &primeWave{p: p, entries: entries, at: make([]*visit, len(entries)),
		made: map[*visit][]kernel.Neigh{}, flush: map[string]bool{}, learn: map[[2]int32]*visit{}}
	need := func(k [2]int32) {
		if _, ok := p.links[k]; ok {
			return
		}
		p.links[k] = linkRead{}
		x := vs.at(p.path(k[0]))
		x.wantNC = true
		pw.read = append(pw.read, linkNeed{k, x})
	}
	for i, e := range entries {
		if p.path(e.stack) == "" || p.path(e.own) == "" {
			continue // a node mapped to no namespace: never the caller's
		}
		pw.at[i] = vs.at(p.path(e.stack))
		pw.at[i].wantNC = true
		need([2]int32{e.stack, e.ifc})
		need([2]int32{e.own, e.ownIfc})
		k := [2]int32{e.own, e.ownIfc}
		if seg := p.w.stacks[e.own].ifaces[e.ownIfc].seg; seg >= 0 && p.w.bridged[seg] && pw.learn[k] == nil {
			x := vs.at(p.path(e.own))
			x.wantLearn = true
			pw.learn[k] = x
		}
	}
	for _, s := range unprimed {
		if path := p.path(s); path != "" {
			pw.flush[path] = true
		}
	}
	return pw
}

func (p *primer) path(stack int32) string { return p.nsPath(p.w.stacks[stack].name) }

// readLinks reads the interfaces the wave's entries need (the index of
// the one that holds an entry, the MAC address of the one that
// answers), all of a node's in one exchange, up to workers nodes at
// once.
func (pw *primeWave) readLinks(workers int) {
	byVisit := map[*visit][]linkNeed{}
	var order []*visit
	for _, n := range pw.read {
		if _, ok := byVisit[n.at]; !ok {
			order = append(order, n.at)
		}
		byVisit[n.at] = append(byVisit[n.at], n)
	}
	parallelN(len(order), workers, func(i int) {
		x := order[i]
		if x.nc == nil {
			return
		}
		ns := byVisit[x]
		names := make([]string, len(ns))
		for k, n := range ns {
			names[k] = pw.p.w.stacks[n.key[0]].ifaces[n.key[1]].dev
		}
		las, errs, _ := x.nc.Links(names)
		pw.p.mu.Lock()
		for k, n := range ns {
			pw.p.links[n.key] = linkRead{las[k], errs[k] == nil && len(las[k].MAC) > 0}
		}
		pw.p.mu.Unlock()
	})
}

// prime makes the wave's entries, all of a node's in one exchange, up to
// workers nodes at once. What fails is left to the kernel to resolve,
// and the node's learnt entries go after the wave.
func (pw *primeWave) prime(workers int) {
	byVisit := map[*visit][]kernel.Neigh{}
	var order []*visit
	for i, e := range pw.entries {
		x := pw.at[i]
		if x == nil {
			continue
		}
		at, own := pw.p.links[[2]int32{e.stack, e.ifc}], pw.p.links[[2]int32{e.own, e.ownIfc}]
		if x.nc == nil || !at.ok || !own.ok {
			if x.err == nil {
				pw.flush[x.path] = true
			}
			continue
		}
		if _, ok := byVisit[x]; !ok {
			order = append(order, x)
		}
		byVisit[x] = append(byVisit[x], kernel.Neigh{Index: at.la.Index, Addr: e.addr, MAC: own.la.MAC})
	}
	var mu sync.Mutex
	parallelN(len(order), workers, func(i int) {
		x := order[i]
		es := byVisit[x]
		errs, err := x.nc.AddPermanent(es)
		var made []kernel.Neigh
		dirty := err != nil
		for k, e := range es {
			switch {
			case errs[k] == nil && err == nil:
				made = append(made, e)
			case errors.Is(errs[k], kernel.ErrNeighExists):
			default:
				dirty = true
			}
		}
		mu.Lock()
		pw.made[x] = made
		if dirty {
			pw.flush[x.path] = true
		}
		mu.Unlock()
	})
}

// teach sends a learning frame from each bridged interface the wave's
// probes are sent to, so that its bridge does not flood them.
func (pw *primeWave) teach() {
	for k, x := range pw.learn {
		if l := pw.p.links[k]; l.ok && x.learn >= 0 {
			sendLearn(x.learn, l.la.Index, l.la.MAC) // without it, a flood
		}
	}
}

// forget deletes the entries the wave made, and the learnt entries of
// the nodes it could not fully prime (as `ip neigh flush` does:
// permanent entries stay), up to workers nodes at once. It reports
// whether all of that is gone.
func (pw *primeWave) forget(workers int) bool {
	type job struct {
		x    *visit // whose entries to delete, or nil
		path string // to flush, or ""
	}
	var jobs []job
	deleting := map[string]bool{}
	for x := range pw.made {
		deleting[x.path] = true
		path := x.path
		if !pw.flush[path] {
			path = ""
		}
		jobs = append(jobs, job{x, path})
	}
	for path := range pw.flush {
		if !deleting[path] {
			jobs = append(jobs, job{nil, path})
		}
	}
	var mu sync.Mutex
	clean := true
	parallelN(len(jobs), workers, func(i int) {
		j := jobs[i]
		ok := true
		if j.x != nil && len(pw.made[j.x]) > 0 {
			errs, err := j.x.nc.DeleteNeighs(pw.made[j.x])
			ok = err == nil && errors.Join(errs...) == nil
		}
		if j.path != "" && exists(j.path) { // a node of another machine is not here
			ok = forgetNeighbours(j.path) == nil && ok
		}
		if !ok {
			mu.Lock()
			clean = false
			mu.Unlock()
		}
	})
	return clean
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return !os.IsNotExist(err)
}

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
