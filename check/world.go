package check

import (
	"net/netip"
	"slices"
	"strings"

	"github.com/nslab/nslab/topology"
)

// world is the routing model of a whole lab, indexed so that routing one
// packet costs O(path length × log routes) whatever the lab's size.
type world struct {
	// stacks are the nodes by name, then the host if it has lab
	// addresses; a stack's id is its index here.
	stacks []*stack
	byName map[string]int32
	// hostSegs marks the segments the host has addresses on, bridged
	// the segments of a Linux bridge (untagged).
	hostSegs []bool
	bridged  []bool
	// addrs numbers every address of the lab; the interfaces holding
	// address k, in stack and interface order, are
	// holders[heldStart[k]:heldStart[k+1]].
	addrs     map[netip.Addr]int32
	holders   []holder
	heldStart []int32
	// dsts are the probeable addresses, by owner in stack order; those
	// of stack i are dsts[dstStart[i]:dstStart[i+1]].
	dsts     []dest
	dstStart []int
}

// holder is an interface holding an address.
type holder struct {
	stack, ifc int32
	seg        int32 // the interface's segment, or -1
}

// addrRef is an address with the interfaces holding it, so that
// following a packet needs no lookup by address.
type addrRef struct {
	addr netip.Addr
	held []holder
}

// dest is one address that may be probed: address ai of interface ifc
// of stack owner.
type dest struct {
	addrRef
	owner, ifc, ai int32
}

// newWorld models lab in O(addresses + routes × log routes). The
// interfaces named in cut ("node:iface") are off their segment, as when
// their cable is cut.
func newWorld(lab *topology.Lab, cut ...string) *world {
	w := &world{byName: make(map[string]int32, len(lab.Nodes)+1)}
	for _, n := range lab.Nodes {
		for _, v := range vrfViews(n) {
			w.add(newNodeStack(v))
		}
	}
	if host := newHostStack(lab); len(host.ifaces) > 0 {
		w.add(host)
	}
	w.indexSegments(lab.Segments())
	for _, ref := range cut {
		node, dev, _ := strings.Cut(ref, ":")
		if id, ok := w.byName[node]; ok {
			if k := w.stacks[id].ifaceIndex(dev); k >= 0 {
				w.stacks[id].ifaces[k].seg = -1
			}
		}
	}
	w.indexAddrs()
	w.indexDests()
	return w
}

func (w *world) add(s *stack) {
	s.id = int32(len(w.stacks))
	w.byName[s.name] = s.id
	w.stacks = append(w.stacks, s)
}

// indexSegments records each interface's segment and the segments the
// host has addresses on.
func (w *world) indexSegments(segs []topology.Segment) {
	w.hostSegs = make([]bool, len(segs))
	w.bridged = make([]bool, len(segs))
	for i, seg := range segs {
		w.bridged[i] = seg.Bridge != nil && seg.VLAN == 0
		for _, m := range seg.Members {
			if m.Node == topology.HostNode && len(m.Addresses) > 0 {
				w.hostSegs[i] = true
			}
			name := m.Node
			if m.VRF != "" {
				name += "@" + m.VRF // see vrfViews
			}
			id, ok := w.byName[name]
			if !ok {
				continue
			}
			s := w.stacks[id]
			if k := s.ifaceIndex(m.Dev); k >= 0 {
				s.ifaces[k].seg = int32(i)
			}
		}
	}
}

// indexAddrs numbers every address and lists its holders, all in one
// array, then hands each interface address and gateway its holders.
func (w *world) indexAddrs() {
	w.addrs = map[netip.Addr]int32{}
	var count []int32
	w.eachAddr(func(_ *stack, _ int32, a netip.Addr) {
		k, ok := w.addrs[a]
		if !ok {
			k = int32(len(count))
			w.addrs[a] = k
			count = append(count, 0)
		}
		count[k]++
	})
	w.heldStart = make([]int32, len(count)+1)
	for k, n := range count {
		w.heldStart[k+1] = w.heldStart[k] + n
	}
	w.holders = make([]holder, w.heldStart[len(count)])
	fill := slices.Clone(w.heldStart[:len(count)])
	w.eachAddr(func(s *stack, ifc int32, a netip.Addr) {
		k := w.addrs[a]
		w.holders[fill[k]] = holder{s.id, ifc, s.ifaces[ifc].seg}
		fill[k]++
	})
	for _, s := range w.stacks {
		w.refer(s)
	}
}

// eachAddr calls fn for every address of every interface, in order.
func (w *world) eachAddr(fn func(s *stack, ifc int32, a netip.Addr)) {
	for _, s := range w.stacks {
		for k, i := range s.ifaces {
			for _, p := range i.addrs {
				fn(s, int32(k), p.Addr())
			}
		}
	}
}

// refer hands s's addresses and gateways their holders.
func (w *world) refer(s *stack) {
	for k := range s.ifaces {
		i := &s.ifaces[k]
		i.held = make([][]holder, len(i.addrs))
		for n, p := range i.addrs {
			i.held[n] = w.heldBy(p.Addr())
		}
	}
	for f := range s.tables {
		for n := range s.tables[f].routes {
			r := &s.tables[f].routes[n]
			r.viaH = w.heldBy(r.via)
		}
	}
}

// indexDests lists every probeable address once per owner, in lab
// order: nodes by name and their interfaces, then the host's.
func (w *world) indexDests() {
	n := 0
	for _, s := range w.stacks {
		for _, i := range s.ifaces {
			n += len(i.addrs)
		}
	}
	w.dsts = make([]dest, 0, n)
	w.dstStart = make([]int, len(w.stacks)+1)
	for _, s := range w.stacks {
		start := len(w.dsts)
		var many map[netip.Addr]bool // for a stack of many addresses
		for k, i := range s.ifaces {
			for n, p := range i.addrs {
				a := p.Addr()
				if !a.IsGlobalUnicast() || w.listed(start, a, &many) {
					continue
				}
				w.dsts = append(w.dsts, dest{addrRef: addrRef{a, i.held[n]}, owner: s.id, ifc: int32(k), ai: int32(n)})
			}
		}
		w.dstStart[s.id+1] = len(w.dsts)
	}
}

// listed reports whether a is among dsts[start:], the current stack's:
// a scan for the usual handful, a set beyond.
func (w *world) listed(start int, a netip.Addr, many *map[netip.Addr]bool) bool {
	ds := w.dsts[start:]
	if len(ds) <= 16 {
		for i := range ds {
			if ds[i].addr == a {
				return true
			}
		}
		return false
	}
	if *many == nil {
		*many = make(map[netip.Addr]bool, 2*len(ds))
		for i := range ds {
			(*many)[ds[i].addr] = true
		}
	}
	if (*many)[a] {
		return true
	}
	(*many)[a] = true
	return false
}

// destsOf returns the probeable addresses of stack id.
func (w *world) destsOf(id int32) []dest { return w.dsts[w.dstStart[id]:w.dstStart[id+1]] }

// ref returns address a with its holders.
func (w *world) ref(a netip.Addr) addrRef { return addrRef{a, w.heldBy(a)} }

// heldBy returns the interfaces holding a.
func (w *world) heldBy(a netip.Addr) []holder {
	k, ok := w.addrs[a]
	if !ok {
		return nil
	}
	return w.holders[w.heldStart[k]:w.heldStart[k+1]:w.heldStart[k+1]]
}
