package topology

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// Assignments are the addresses nslab chose, by member: "NODE:IF" for an
// interface, "bridge NAME" for a bridge's host side. nslab keeps them
// with a running lab, so that a changed file keeps what was assigned.
type Assignments map[string][]netip.Prefix

// Assignments returns the addresses nslab chose in the lab.
func (l *Lab) Assignments() Assignments {
	a := Assignments{}
	for _, b := range l.Bridges {
		if len(b.Auto) > 0 {
			a["bridge "+b.Name] = b.Auto
		}
	}
	for _, n := range l.Nodes {
		for _, i := range n.Interfaces {
			if len(i.Auto) > 0 {
				a[i.Ref()] = i.Auto
			}
		}
	}
	for _, i := range l.Host {
		if len(i.Auto) > 0 {
			a[i.Ref()] = i.Auto
		}
	}
	return a
}

// ParseWith is Parse for a lab that has been built before with the
// assignments prior: members keep their addresses where the file still
// allows them, and only new members get new ones.
func ParseWith(filename string, data []byte, prior Assignments) (*Lab, error) {
	return parse(filename, data, prior)
}

// Sizes of the subnets taken from the pool, by family: a bridge's, a
// cable's.
var (
	poolLAN = [2]int{24, 64}
	poolP2P = [2]int{31, 127}
)

// ipSeg is a segment as the address planner sees it.
type ipSeg struct {
	name    string
	bridges []*bridgeDecl // a bridge segment: the bridges of its trunk tree
	ends    []*ifaceDecl  // the interfaces on it
	subnets [2]netip.Prefix
	subPos  [2]Pos
	gateway *bridgeDecl  // the bridge that is the gateway, if any
	overlay *overlayDecl // an overlay segment: the overlay
	lan     bool         // a VLAN of a bridge: sized as a bridge's from the pool
	stub    bool         // a dummy or vrf alone: nothing from the pool
}

// assign gives addresses to the interfaces of segments with subnets (as
// written, or from the pool), keeping prior assignments where it can.
func (p *parser) assign() {
	segs := p.ipSegments()
	p.subnetsFromPool(segs)
	for _, s := range segs {
		for f := range 2 {
			if s.subnets[f].IsValid() {
				p.assignSegment(s, f)
			}
		}
	}
}

// ipSegments gathers the segments with their subnets: bridges (a tree of
// trunks is one segment), cables between two interfaces, and the VLANs
// on them (see Lab.Segments). Dummies and vrfs are segments of their own
// that take nothing from the pool.
func (p *parser) ipSegments() []*ipSeg {
	byBridge := map[string]*bridgeDecl{}
	for _, d := range p.bridges {
		byBridge[d.b.Name] = d
	}
	byMember := map[string]*ifaceDecl{}
	for _, d := range p.allIfaces() {
		byMember[d.it.Ref()] = d
	}
	// A trunk: the parent of VLAN sub-interfaces, without addresses or
	// subnets written, is addressed on its VLANs only.
	trunk := map[*ifaceDecl]bool{}
	for _, nd := range p.nodeList {
		for _, d := range nd.ifaces {
			if pd := nd.byName[d.it.Parent]; d.it.Kind == KindVLAN && pd != nil && len(pd.addrs) == 0 && len(pd.subnets.pfxs) == 0 {
				trunk[pd] = true
			}
		}
	}
	root := p.lab.bridgeRoots()
	var segs []*ipSeg
	for _, seg := range p.lab.Segments() {
		s := &ipSeg{name: "cable " + seg.Name}
		switch {
		case seg.Overlay != nil:
			s.name, s.overlay = "overlay "+seg.Name, p.overlayDecl(seg.Overlay)
		case seg.Bridge != nil && seg.VLAN == 0:
			s.name, s.lan = "bridge "+seg.Name, true
			for _, b := range p.lab.bridgesRootFirst(root) {
				if root[b] == seg.Bridge && PortPVID(b.PVID) == DefaultVLAN {
					s.bridges = append(s.bridges, byBridge[b.Name])
				}
			}
		case seg.Bridge != nil:
			s.name, s.lan = "segment "+seg.Name, true
			// The host sides of the tree's bridges in this VLAN (vlan:).
			for _, b := range p.lab.bridgesRootFirst(root) {
				if root[b] == seg.Bridge && seg.Protocol == VLAN8021Q && b.PVID == seg.VLAN && seg.VLAN != DefaultVLAN {
					s.bridges = append(s.bridges, byBridge[b.Name])
				}
			}
		case seg.Over != "":
			s.name = "segment " + seg.Name
		}
		for _, m := range seg.Members {
			if m.Bridge {
				continue
			}
			d := byMember[m.Node+":"+m.Dev]
			if d != nil && (d.it.Kind == KindDummy || d.it.Kind == KindVRF) {
				s.stub = true
			}
			if trunk[d] {
				continue
			}
			s.ends = append(s.ends, d)
		}
		segs = append(segs, s)
	}
	for _, s := range segs {
		if s.overlay != nil {
			p.segSubnets(s, s.overlay.subnets)
		}
		for _, b := range s.bridges {
			p.segSubnets(s, b.subnets)
			if b.b.Gateway {
				if s.gateway != nil {
					p.errorf(b.gatewayPos, "bridges %s and %s of one segment are both its gateway: keep one gateway: true", s.gateway.b.Name, b.b.Name)
					continue
				}
				s.gateway = b
			}
		}
		for _, e := range s.ends {
			if e != nil {
				p.segSubnets(s, e.subnets)
			}
		}
	}
	return segs
}

// segSubnets adds subnets written on a member of s; two members that
// name different subnets of one family are an error.
func (p *parser) segSubnets(s *ipSeg, l prefixList) {
	for i, pfx := range l.pfxs {
		f := family(pfx.Addr())
		switch {
		case !s.subnets[f].IsValid():
			s.subnets[f], s.subPos[f] = pfx, l.pos[i]
		case s.subnets[f] != pfx:
			p.errorf(l.pos[i], "subnet %s of %s differs from %s given at %s: write one subnet per family for a segment", pfx, s.name, s.subnets[f], s.subPos[f])
		}
	}
}

// explicit lists the addresses of family f written on s's members, the
// bridges' host side included.
func (s *ipSeg) explicit(f int) []netip.Prefix {
	var out []netip.Prefix
	add := func(l addrList) {
		for _, a := range l.addrs {
			if family(a.Addr()) == f {
				out = append(out, a)
			}
		}
	}
	for _, b := range s.bridges {
		add(b.addrList)
	}
	for _, e := range s.ends {
		if e != nil {
			add(e.addrList)
		}
	}
	return out
}

// subnetsFromPool gives every segment that has neither a subnet nor an
// address of a family a subnet of the pool, in the order of segments:
// bridges by name, then cables. Subnets already in the file are skipped.
func (p *parser) subnetsFromPool(segs []*ipSeg) {
	for i, pool := range p.pool.pfxs {
		f := family(pool.Addr())
		var taken []netip.Prefix
		for _, s := range segs {
			if s.subnets[f].IsValid() {
				taken = append(taken, s.subnets[f])
			}
			for _, a := range s.explicit(f) {
				taken = append(taken, a.Masked())
			}
		}
		next := pool.Addr()
		for _, s := range segs {
			if s.subnets[f].IsValid() || len(s.explicit(f)) > 0 || len(s.ends) == 0 || s.stub {
				continue
			}
			bits := poolLAN[f]
			if s.bridges == nil && !s.lan && s.overlay == nil {
				bits = poolP2P[f]
			}
			sub, ok := nextFree(pool, next, bits, taken)
			if !ok {
				p.errorf(p.pool.pos[i], "the pool %s has no /%d left for %s: give the pool more room", pool, bits, s.name)
				return
			}
			s.subnets[f], s.subPos[f] = sub, p.pool.pos[i]
			taken = append(taken, sub)
			next = lastOf(sub).Next()
		}
	}
}

// nextFree returns the first subnet of the given length in pool, at or
// after from, that overlaps nothing taken.
func nextFree(pool netip.Prefix, from netip.Addr, bits int, taken []netip.Prefix) (netip.Prefix, bool) {
	if bits < pool.Bits() {
		return netip.Prefix{}, false
	}
	for a := from; a.IsValid() && pool.Contains(a); {
		sub, _ := a.Prefix(bits)
		if sub.Addr() != a { // align up
			a = lastOf(sub).Next()
			continue
		}
		clash := slices.IndexFunc(taken, sub.Overlaps)
		if clash < 0 {
			return sub, true
		}
		a = lastOf(sub).Next()
		if end := lastOf(taken[clash]).Next(); end.IsValid() && a.Less(end) {
			a = end
		}
	}
	return netip.Prefix{}, false
}

// assignSegment checks the written addresses of family f against the
// segment's subnet and gives the members without one an address.
func (p *parser) assignSegment(s *ipSeg, f int) {
	sub := s.subnets[f]
	used := map[netip.Addr]bool{}
	check := func(owner string, l addrList) bool {
		has := false
		for i, a := range l.addrs {
			if family(a.Addr()) != f {
				continue
			}
			has = true
			used[a.Addr()] = true
			if !sub.Contains(a.Addr()) || a.Bits() != sub.Bits() {
				p.errorf(l.addrPos[i], "address %s of %s is outside the subnet %s of its segment (%s, at %s): use an address of %s with /%d, or leave it out and let nslab choose",
					a, owner, sub, s.name, s.subPos[f], sub, sub.Bits())
			}
		}
		return has
	}
	for _, b := range s.bridges {
		check("bridge "+b.b.Name, b.addrList)
	}
	var need []*ifaceDecl
	for _, e := range s.ends {
		if e != nil && !check(e.it.Ref(), e.addrList) {
			need = append(need, e)
		}
	}
	slices.SortFunc(need, func(a, b *ifaceDecl) int { return cmp.Compare(a.it.Ref(), b.it.Ref()) })

	first, last := usableRange(sub)
	if s.overlay != nil {
		s.overlay.o.Subnets = append(s.overlay.o.Subnets, sub)
	}
	if s.bridges != nil {
		// The first address is the gateway's, whether a bridge takes it or not.
		gw := first
		first = first.Next()
		if g := s.gateway; g != nil && !hasFamily(g.addrs, f) {
			a := netip.PrefixFrom(gw, sub.Bits())
			if used[gw] {
				p.errorf(g.gatewayPos, "bridge %s is the gateway of its segment, but the gateway's address %s is taken: leave the first address of %s free", g.b.Name, gw, sub)
			} else {
				used[gw] = true
				g.addrs, g.addrPos = append(g.addrs, a), append(g.addrPos, g.gatewayPos)
				g.b.Addresses = g.addrs
				g.b.Auto = append(g.b.Auto, a)
			}
		}
	}
	if len(s.bridges) > 0 {
		s.bridges[0].b.Subnets = append(s.bridges[0].b.Subnets, sub)
	} else {
		for _, e := range s.ends {
			if e != nil {
				e.it.Subnets = append(e.it.Subnets, sub)
			}
		}
	}
	// Prior assignments first, so that a changed file moves no one.
	var rest []*ifaceDecl
	for _, e := range need {
		if a, ok := p.priorIn(e.it.Ref(), sub, f); ok && !used[a.Addr()] && !a.Addr().Less(first) && !last.Less(a.Addr()) {
			used[a.Addr()] = true
			p.give(e, a, s, f)
			continue
		}
		rest = append(rest, e)
	}
	next := first
	for _, e := range rest {
		for next.IsValid() && !last.Less(next) && used[next] {
			next = next.Next()
		}
		if !next.IsValid() || last.Less(next) {
			p.errorf(s.subPos[f], "subnet %s of %s has no address left for %s (%d members need one): use a larger subnet",
				sub, s.name, e.it.Ref(), len(need))
			return
		}
		used[next] = true
		p.give(e, netip.PrefixFrom(next, sub.Bits()), s, f)
	}
}

// give adds an address that nslab chose to an interface.
func (p *parser) give(e *ifaceDecl, a netip.Prefix, s *ipSeg, f int) {
	e.addrs = append(e.addrs, a)
	e.addrPos = append(e.addrPos, s.subPos[f])
	e.it.Addresses = e.addrs
	e.it.Auto = append(e.it.Auto, a)
}

// priorIn returns the prior address of a member in sub.
func (p *parser) priorIn(member string, sub netip.Prefix, f int) (netip.Prefix, bool) {
	for _, a := range p.prior[member] {
		if family(a.Addr()) == f && sub.Contains(a.Addr()) && a.Bits() == sub.Bits() {
			return a, true
		}
	}
	return netip.Prefix{}, false
}

// usableRange is the first and last address of sub that an interface may
// have: without the network and broadcast addresses of an IPv4 subnet
// (unless /31) and the subnet-router anycast address of an IPv6 one
// (unless /127).
func usableRange(sub netip.Prefix) (first, last netip.Addr) {
	first, last = sub.Addr(), lastOf(sub)
	if sub.Addr().Is4() && sub.Bits() < 31 {
		return first.Next(), last.Prev()
	}
	if sub.Addr().Is6() && sub.Bits() < 127 {
		return first.Next(), last
	}
	return first, last
}

func hasFamily(addrs []netip.Prefix, f int) bool {
	return slices.ContainsFunc(addrs, func(a netip.Prefix) bool { return family(a.Addr()) == f })
}

// String renders assignments one per line, sorted, for messages and
// tests.
func (a Assignments) String() string {
	var lines []string
	for m, addrs := range a {
		var s []string
		for _, x := range addrs {
			s = append(s, x.String())
		}
		lines = append(lines, fmt.Sprintf("%s %s", m, strings.Join(s, ",")))
	}
	slices.Sort(lines)
	return strings.Join(lines, "\n")
}

// lastOf returns the highest address of a prefix, of either family.
func lastOf(pfx netip.Prefix) netip.Addr {
	if pfx.Addr().Is4() {
		return lastAddr(pfx)
	}
	b := pfx.Masked().Addr().As16()
	for i := pfx.Bits(); i < 128; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	return netip.AddrFrom16(b)
}
