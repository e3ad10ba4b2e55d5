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
	// Hops are the nodes that forward the request, for display.
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
func Expect(lab *topology.Lab) []Probe {
	w := newWorld(lab)
	dsts := w.destinations()
	// Work out each source's probes concurrently, each into a buffer of
	// its exact size, then gather them, also concurrently: at thousands
	// of nodes there are millions of probes.
	per := make([][]Probe, len(w.order))
	scratch := sync.Pool{New: func() any { return make([]Probe, 0, len(dsts)) }}
	parallel(len(w.order), func(i int) {
		buf := w.probes(scratch.Get().([]Probe)[:0], w.order[i], dsts)
		per[i] = slices.Clone(buf)
		clear(buf)
		scratch.Put(buf)
	})
	offsets := make([]int, len(per)+1)
	for i, ps := range per {
		offsets[i+1] = offsets[i] + len(ps)
	}
	out := make([]Probe, offsets[len(per)])
	parallel(len(per), func(i int) { copy(out[offsets[i]:], per[i]) })
	return out
}

// probes appends the probes of one source to buf. The world is
// read-only here, so sources can be worked out concurrently.
func (w *world) probes(buf []Probe, s *stack, dsts []dest) []Probe {
	for _, d := range dsts {
		if p, ok := w.probe(s, d); ok {
			buf = append(buf, p)
		}
	}
	return buf
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

// world is the routing model of a whole lab.
type world struct {
	stacks map[string]*stack
	// order is the nodes by name, then the host if it has lab addresses.
	order []*stack
	segs  []topology.Segment
	// segOf maps an interface to its segment index.
	segOf map[port]int
	// hostSegs holds the segments the host has addresses on.
	hostSegs map[int]bool
	// owners maps an address on a segment to the interface holding it.
	owners map[segAddr]port
}

// segAddr is an address on one segment.
type segAddr struct {
	seg  int
	addr netip.Addr
}

// port names an interface: a node (or the host) and a device.
type port struct{ node, dev string }

// dest is one address that may be probed.
type dest struct {
	node, dev string
	addr      netip.Addr
}

func newWorld(lab *topology.Lab) *world {
	w := &world{stacks: map[string]*stack{}, segOf: map[port]int{}, hostSegs: map[int]bool{}, owners: map[segAddr]port{}}
	for _, n := range lab.Nodes {
		w.add(newNodeStack(n))
	}
	if host := newHostStack(lab); len(host.ifaces) > 0 {
		w.add(host)
	}
	w.segs = lab.Segments()
	for i, s := range w.segs {
		for _, m := range s.Members {
			w.segOf[port{m.Node, m.Dev}] = i
			if m.Node == topology.HostNode && len(m.Addresses) > 0 {
				w.hostSegs[i] = true
			}
		}
	}
	w.indexOwners()
	return w
}

// indexOwners records, for each segment, which interface answers for
// which address (the first one, if an address is duplicated).
func (w *world) indexOwners() {
	for _, s := range w.order {
		for _, i := range s.ifaces {
			seg, ok := w.segOf[port{s.name, i.dev}]
			if !ok {
				continue
			}
			for _, p := range i.addrs {
				k := segAddr{seg, p.Addr()}
				if _, dup := w.owners[k]; !dup {
					w.owners[k] = port{s.name, i.dev}
				}
			}
		}
	}
}

func (w *world) add(s *stack) {
	w.stacks[s.name] = s
	w.order = append(w.order, s)
}

// destinations lists every probeable address once per owner, in lab
// order: nodes by name and their interfaces, then the host's.
func (w *world) destinations() []dest {
	var out []dest
	for _, s := range w.order {
		seen := map[netip.Addr]bool{}
		for _, i := range s.ifaces {
			for _, p := range i.addrs {
				a := p.Addr()
				if a.IsGlobalUnicast() && !seen[a] {
					seen[a] = true
					out = append(out, dest{node: s.name, dev: i.dev, addr: a})
				}
			}
		}
	}
	return out
}

// probe decides whether s must reach d, and how.
func (w *world) probe(s *stack, d dest) (Probe, bool) {
	p := Probe{From: s.name, To: d.addr, ToNode: d.node, ToDev: d.dev}
	owner := w.stacks[d.node]
	if owner.noEcho[family(d.addr)] {
		return p, false
	}
	if s.isLocal(d.addr) {
		p.Src = d.addr
		return p, s == owner
	}
	if s.name == topology.HostNode && !w.hostDirect(d) {
		return p, false
	}
	nh, dev, ok := s.nextHop(d.addr)
	if !ok {
		return p, false
	}
	p.Dev, p.Src = dev, s.source(dev, nh)
	if !p.Src.IsValid() {
		return p, false
	}
	to, hops, ok := w.walk(s, p.Src, d.addr)
	if !ok || to != owner || (s.name == topology.HostNode && len(hops) > 0) {
		return p, false
	}
	back, _, ok := w.walk(owner, d.addr, p.Src)
	p.Hops = hops
	return p, ok && back == s
}

// hostDirect reports whether d sits on a segment the host has addresses
// on: the only addresses the root namespace may probe.
func (w *world) hostDirect(d dest) bool {
	i, ok := w.segOf[port{d.node, d.dev}]
	return ok && w.hostSegs[i]
}

// walk follows a packet from src to dst that origin sends, hop by hop,
// and returns the stack that accepts it locally and the forwarding nodes
// on the way. It fails on a missing route or neighbour, a node that does
// not forward, reverse-path filtering, or TTL expiry, which also ends
// any routing loop after at most ttl hops.
func (w *world) walk(origin *stack, src, dst netip.Addr) (*stack, []string, bool) {
	var hops []string
	cur, in, left := origin, "", ttl
	for {
		if in != "" && !cur.acceptsFrom(in, src) {
			return nil, nil, false
		}
		if cur.isLocal(dst) {
			return cur, hops, true
		}
		if in != "" {
			if !cur.fwd[family(dst)] || left <= 1 {
				return nil, nil, false
			}
			left--
			hops = append(hops, cur.name)
		}
		next, dev, ok := w.forward(cur, dst)
		if !ok {
			return nil, nil, false
		}
		cur, in = next, dev
	}
}

// forward sends a packet for dst out of cur and returns the neighbour
// stack that receives it and its ingress device.
func (w *world) forward(cur *stack, dst netip.Addr) (*stack, string, bool) {
	nh, dev, ok := cur.nextHop(dst)
	if !ok {
		return nil, "", false
	}
	return w.neighbor(port{cur.name, dev}, nh)
}

// neighbor finds who answers for address nh on from's segment.
func (w *world) neighbor(from port, nh netip.Addr) (*stack, string, bool) {
	seg, ok := w.segOf[from]
	if !ok {
		return nil, "", false
	}
	to, ok := w.owners[segAddr{seg, nh}]
	if !ok || to == from {
		return nil, "", false
	}
	return w.stacks[to.node], to.dev, true
}
