package check

import (
	"net/netip"
	"runtime"
	"slices"
	"sync"

	"github.com/nslab/nslab/topology"
)

// Probe is one echo test that the lab's model says must succeed.
type Probe struct {
	// From is the probing node, or topology.HostNode.
	From string `json:"from"`
	// To is the probed address, owned by interface ToDev of node ToNode.
	To     netip.Addr `json:"to"`
	ToNode string     `json:"to_node"`
	ToDev  string     `json:"to_dev"`
	// Src is the source address the kernel would choose.
	Src netip.Addr `json:"src"`
	// Dev is the egress interface at From; empty for From's own address.
	Dev string `json:"dev,omitempty"`
	// Hops are the nodes that forward the request, for display. Probes
	// along the same path may share the slice: treat it as read-only.
	Hops []string `json:"hops,omitempty"`
}

// Expect lists the probes that must succeed in lab: for every source
// node (and the host) and every non-link-local address of the lab, a
// probe when IP routing over the model delivers the request to the
// address's owner and the reply back to the source.
//
// The model: each node has its connected routes and static routes,
// matched longest prefix first; a node forwards a family only if it is a
// Router or sets net.ipv4.ip_forward / net.ipv6.conf.all.forwarding;
// a neighbour is reachable only if it holds the address on the same
// layer-2 segment; IPv4 rp_filter and icmp echo_ignore_all sysctls are
// honoured; loops and TTL expiry fail. The host only probes addresses on
// the segments it is attached to, directly. Probes come sorted by source
// (nodes by name, then the host), then by destination in lab order.
//
// Expect considers every (node, address) pair: its cost grows with the
// square of the lab's size. ExpectSample draws a few pairs instead.
func Expect(lab *topology.Lab) []Probe {
	return newWorld(lab).expectAll()
}

// expectAll works out every source's probes concurrently, in a compact
// form, then turns them into Probes, also concurrently: at thousands of
// nodes there are millions of probes, and the output is most of the
// memory.
func (w *world) expectAll() []Probe {
	per := make([]found, len(w.stacks))
	pool := sync.Pool{New: func() any { return &walker{recs: make([]rec, 0, len(w.dsts))} }}
	parallel(len(w.stacks), func(i int) {
		wk := pool.Get().(*walker)
		wk.reset()
		s := w.stacks[i]
		for k := range w.dsts {
			w.probe(wk, s, k)
		}
		per[i] = found{recs: slices.Clone(wk.recs), paths: wk.paths}
		pool.Put(wk)
	})
	offsets := make([]int, len(per)+1)
	for i, f := range per {
		offsets[i+1] = offsets[i] + len(f.recs)
	}
	out := make([]Probe, offsets[len(per)])
	parallel(len(per), func(i int) {
		for k, r := range per[i].recs {
			out[offsets[i]+k] = w.toProbe(w.stacks[i], r, per[i].paths)
		}
		per[i] = found{}
	})
	return out
}

// found is the probes of one source in compact form.
type found struct {
	recs  []rec
	paths [][]string
}

// rec is a probe in compact form: the destination (index in
// world.dsts), the source address (address srcAd of interface srcIf),
// the egress interface (-1 for an own address) and the path of
// forwarding nodes (index in the source's paths, -1 for none).
type rec struct {
	dst          int32
	srcIf, srcAd int32
	dev          int32
	path         int32
}

// walker is one goroutine's scratch for working out probes of one
// source at a time.
type walker struct {
	recs  []rec
	paths [][]string
	hops  []int32 // the current forward path, by stack id
	last  []int32 // the stacks of paths' last entry
	arena []string
}

// reset starts a new source. The paths handed out stay valid: the arena
// they were carved from is never written again.
func (wk *walker) reset() {
	wk.recs, wk.paths, wk.last = wk.recs[:0], nil, wk.last[:0]
}

// path returns the index of the current path in wk.paths, adding it
// unless it repeats the previous one, as it does for the addresses of
// one node and for the nodes of one subnet.
func (wk *walker) path(w *world) int32 {
	if len(wk.hops) == 0 {
		return -1
	}
	if len(wk.paths) > 0 && slices.Equal(wk.hops, wk.last) {
		return int32(len(wk.paths) - 1)
	}
	wk.last = append(wk.last[:0], wk.hops...)
	n := len(wk.hops)
	if len(wk.arena) < n {
		wk.arena = make([]string, max(n, 256))
	}
	p := wk.arena[:n:n]
	wk.arena = wk.arena[n:]
	for k, id := range wk.hops {
		p[k] = w.stacks[id].name
	}
	wk.paths = append(wk.paths, p)
	return int32(len(wk.paths) - 1)
}

// toProbe expands a compact probe of source s.
func (w *world) toProbe(s *stack, r rec, paths [][]string) Probe {
	d := &w.dsts[r.dst]
	owner := w.stacks[d.owner]
	p := Probe{
		From: s.name, To: d.addr, ToNode: owner.name, ToDev: owner.ifaces[d.ifc].dev,
		Src: s.ifaces[r.srcIf].addrs[r.srcAd].Addr(),
	}
	if r.dev >= 0 {
		p.Dev = s.ifaces[r.dev].dev
	}
	if r.path >= 0 {
		p.Hops = paths[r.path]
	}
	return p
}

// parallel runs fn(0) … fn(n-1) on up to runtime.NumCPU() goroutines.
func parallel(n int, fn func(i int)) {
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(n, runtime.NumCPU()) {
		wg.Go(func() {
			for i := range next {
				fn(i)
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
}

// probe decides whether s must reach destination k, and how; if so it
// appends the probe to wk.recs and reports true. The world is read-only
// here, so sources can be worked out concurrently.
func (w *world) probe(wk *walker, s *stack, k int) bool {
	d := &w.dsts[k]
	owner := w.stacks[d.owner]
	if owner.noEcho[family(d.addr)] {
		return false
	}
	if s.holds(d.addrRef) {
		if s != owner {
			return false
		}
		wk.recs = append(wk.recs, rec{dst: int32(k), srcIf: d.ifc, srcAd: d.ai, dev: -1, path: -1})
		return true
	}
	host := s.name == topology.HostNode
	if host && !w.hostDirect(d) {
		return false
	}
	r, ok := s.lookup(d.addr)
	if !ok {
		return false
	}
	nh := r.via
	if !nh.IsValid() {
		nh = d.addr
	}
	srcIf, srcAd, ok := s.source(r.ifc, nh)
	if !ok {
		return false
	}
	src := s.ref(srcIf, srcAd)
	wk.hops = wk.hops[:0]
	to, ok := w.walk(s, src, d.addrRef, &wk.hops, nil)
	if !ok || to != owner || (host && len(wk.hops) > 0) {
		return false
	}
	back, ok := w.walk(owner, d.addrRef, src, nil, nil)
	if !ok || back != s {
		return false
	}
	wk.recs = append(wk.recs, rec{dst: int32(k), srcIf: srcIf, srcAd: srcAd, dev: r.ifc, path: wk.path(w)})
	return true
}

// hostDirect reports whether d sits on a segment the host has addresses
// on: the only addresses the root namespace may probe.
func (w *world) hostDirect(d *dest) bool {
	seg := w.stacks[d.owner].ifaces[d.ifc].seg
	return seg >= 0 && w.hostSegs[seg]
}

// neighbour is a neighbour-table entry a packet needs: stack's
// resolution of addr on interface ifc.
type neighbour struct {
	stack, ifc int32
	addr       netip.Addr
}

// walk follows a packet from src to dst that origin sends, hop by hop,
// and returns the stack that accepts it locally. It appends the
// forwarding nodes on the way to hops and the neighbour entries used to
// nbs, when they are not nil. It fails on a missing route or neighbour,
// a node that does not forward, reverse-path filtering, or TTL expiry,
// which also ends any routing loop after at most ttl hops.
func (w *world) walk(origin *stack, src, dst addrRef, hops *[]int32, nbs *[]neighbour) (*stack, bool) {
	fam := family(dst.addr)
	cur, in, left := origin, int32(-1), ttl
	for {
		if in >= 0 && !cur.acceptsFrom(in, src.addr) {
			return nil, false
		}
		if cur.holds(dst) {
			return cur, true
		}
		if in >= 0 {
			if !cur.fwd[fam] || left <= 1 {
				return nil, false
			}
			left--
			if hops != nil {
				*hops = append(*hops, cur.id)
			}
		}
		r, ok := cur.lookup(dst.addr)
		if !ok {
			return nil, false
		}
		nh := dst
		if r.via.IsValid() {
			nh = addrRef{r.via, r.viaH}
		}
		if nbs != nil {
			*nbs = append(*nbs, neighbour{cur.id, r.ifc, nh.addr})
		}
		if cur, in, ok = w.neighbor(cur, r.ifc, nh); !ok {
			return nil, false
		}
	}
}

// neighbor finds who answers for address nh on the segment of
// interface ifc of stack from, and the interface it answers on.
func (w *world) neighbor(from *stack, ifc int32, nh addrRef) (*stack, int32, bool) {
	seg := from.ifaces[ifc].seg
	if seg < 0 {
		return nil, -1, false
	}
	for _, h := range nh.held {
		if h.seg != seg {
			continue
		}
		if h.stack == from.id && h.ifc == ifc {
			return nil, -1, false
		}
		return w.stacks[h.stack], h.ifc, true
	}
	return nil, -1, false
}
