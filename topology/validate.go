package topology

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// validate checks the resolved lab as a whole: names on the host,
// addresses, subnets, MTUs, MACs and routes.
func (p *parser) validate() {
	p.checkNameClashes()
	uses := p.addrUses()
	p.checkDupAddrs(uses)
	p.checkOverlaps(uses)
	p.checkMTUs()
	p.checkSubMTUs()
	p.checkMACs()
	p.checkShapes()
	p.checkOverlays()
	for _, d := range p.nodeList {
		p.checkVRFRoutes(d)
		p.checkRoutes(d)
		p.checkSysctlIfaces(d)
	}
	p.checkOutside()
	p.checkServices()
}

// checkShapes allows two shapes on a cable only if each holds one way,
// and not the same one: a shape without direction holds both ways.
func (p *parser) checkShapes() {
	for _, l := range p.lab.Links {
		if l.A == nil || l.B == nil || l.A.Shape == nil || l.B.Shape == nil {
			continue
		}
		a, b := l.A.Shape, l.B.Shape
		// What leaves A is shaped by A's out or B's in.
		if !(a.Out() && b.In()) && !(a.In() && b.Out()) {
			continue
		}
		first, second := a, b
		if comparePos(first.Pos, second.Pos) > 0 {
			first, second = second, first
		}
		if a.Way == "" || b.Way == "" {
			p.errorf(second.Pos, "cable %s -- %s is shaped on both ends (the other at %s): a shape holds both ways, so write it on one end only, or a shape with direction: out on each end for a different shape each way",
				l.A.Ref(), l.B.Ref(), first.Pos)
			continue
		}
		p.errorf(second.Pos, "cable %s -- %s is shaped twice the same way (the other at %s): write direction: out on each end for a different shape each way",
			l.A.Ref(), l.B.Ref(), first.Pos)
	}
}

// checkSysctlIfaces checks that a per-interface setting
// (net.ipv4.conf.IF.*, net.ipv6.neigh.IF.*, ...) names an interface of
// its node: the kernel knows no other there.
func (p *parser) checkSysctlIfaces(d *nodeDecl) {
	for _, s := range d.n.Sysctls {
		dev, ok := SysctlDev(s.Key)
		if !ok || dev == "all" || dev == "default" || dev == "lo" || d.byName[dev] != nil {
			continue
		}
		p.errorf(s.Pos, "sysctl %s: node %s has no interface %q %s; per-interface settings name one of the node's interfaces, all, default or lo",
			s.Key, d.n.Name, dev, choices("interfaces", dev, names(d.n.Interfaces, ifName)))
	}
}

// SysctlDev returns the interface that a per-interface setting names:
// IF in net.ipv4.conf.IF.rp_filter or net.ipv6.neigh.IF.retrans_time_ms.
func SysctlDev(key string) (string, bool) {
	f := strings.Split(key, ".")
	if len(f) < 5 || f[0] != "net" || f[1] != "ipv4" && f[1] != "ipv6" || f[2] != "conf" && f[2] != "neigh" {
		return "", false
	}
	return f[3], true
}

// checkNameClashes rejects a host interface named like a bridge: both get
// the altname NAME.LAB on the host.
func (p *parser) checkNameClashes() {
	bridges := map[string]*Bridge{}
	for _, b := range p.lab.Bridges {
		bridges[b.Name] = b
	}
	for _, d := range p.host {
		if b, ok := bridges[d.it.Name]; ok {
			p.errorf(d.it.Pos, "host interface %s has the name of bridge %s (at %s); both live on the host as %s.%s: rename one",
				d.it.Name, b.Name, b.Pos, p.lab.Name, b.Name)
		}
	}
}

// addrUse is one address written in the file.
type addrUse struct {
	pfx   netip.Prefix
	owner string // "ns1:eth0", "bridge br0"
	id    int    // one per interface or bridge
	seg   int    // index of its segment; -1 if on none
	// realm is the address space it is in: the segments a vrf reaches
	// through the tables of the nodes on them, or the rest of the lab;
	// -1 if on no segment. Two vrfs of one node may reuse each other's
	// subnets.
	realm int
	pos   Pos
}

// addrUses lists every address of the lab in file order, each with its
// segment.
func (p *parser) addrUses() []addrUse {
	segs := p.segments()
	var uses []addrUse
	owners := 0
	add := func(owner string, key Member, l addrList) {
		seg, ok := segs.index[memberKey(key)]
		if !ok {
			seg = -1
		}
		owners++
		realm := -1
		if seg >= 0 {
			realm = segs.realm[seg]
		}
		for i, a := range l.addrs {
			uses = append(uses, addrUse{pfx: a, owner: owner, id: owners, seg: seg, realm: realm, pos: l.addrPos[i]})
		}
	}
	for _, d := range p.bridges {
		add("bridge "+d.b.Name, Member{Node: HostNode, Dev: d.b.Name}, d.addrList)
	}
	for _, d := range p.allIfaces() {
		add(d.it.Ref(), Member{Node: d.it.Node, Dev: d.it.Name}, d.addrList)
	}
	slices.SortStableFunc(uses, func(a, b addrUse) int { return comparePos(a.pos, b.pos) })
	p.segs = segs.list
	return uses
}

type segmentIndex struct {
	list  []Segment
	index map[string]int
	realm []int // by segment: the lowest segment of its realm
}

func memberKey(m Member) string { return m.Node + ":" + m.Dev }

func (p *parser) segments() segmentIndex {
	s := segmentIndex{list: p.lab.Segments(), index: map[string]int{}}
	for i, seg := range s.list {
		for _, m := range seg.Members {
			s.index[memberKey(m)] = i
		}
	}
	s.realm = realms(s.list)
	return s
}

// realms returns, by segment, the lowest segment of its realm: the
// segments a vrf reaches through the tables of the nodes on them (a
// node's main table, each of its vrfs', the host's) form a realm of their
// own; every realm without a vrf member is one, the lab's, as in a lab
// without vrfs.
func realms(list []Segment) []int {
	realm := make([]int, len(list))
	find := func(i int) int {
		for realm[i] != i {
			realm[i] = realm[realm[i]]
			i = realm[i]
		}
		return i
	}
	table := map[string]int{} // node and vrf -> a segment it is on
	for i, seg := range list {
		realm[i] = i
		for _, m := range seg.Members {
			k := m.Node + "\x00" + m.VRF
			if j, ok := table[k]; ok {
				a, b := find(i), find(j)
				realm[max(a, b)] = min(a, b)
			} else {
				table[k] = i
			}
		}
	}
	vrf := map[int]bool{}
	for i, seg := range list {
		for _, m := range seg.Members {
			if m.VRF != "" {
				vrf[find(i)] = true
			}
		}
	}
	roots := make([]int, len(list))
	global := -1
	for i := range list {
		r := find(i)
		if !vrf[r] {
			if global < 0 {
				global = r
			}
			r = global
		}
		roots[i] = r
	}
	return roots
}

// checkDupAddrs rejects an address used twice. A link-local address need
// only be unique on its segment.
func (p *parser) checkDupAddrs(uses []addrUse) {
	type key struct {
		a     netip.Addr
		scope int
	}
	seen := make(map[key]*addrUse, len(uses))
	for i := range uses {
		u := &uses[i]
		k := key{u.pfx.Addr(), -1 - u.realm}
		if u.pfx.Addr().IsLinkLocalUnicast() {
			k.scope = u.seg
			if u.seg < 0 {
				k.scope = -2 - u.id
			}
		}
		first, dup := seen[k]
		switch {
		case !dup:
			seen[k] = u
		case first.id == u.id:
			p.errorf(u.pos, "address %s is listed twice on %s (first at %s)", u.pfx.Addr(), u.owner, first.pos)
		default:
			p.errorf(u.pos, "address %s is already used by %s at %s; every address must be unique in the lab",
				u.pfx.Addr(), first.owner, first.pos)
		}
	}
}

// subnet is a subnet on a segment, with its first use in the file.
type subnet struct {
	pfx netip.Prefix
	use *addrUse
}

// checkOverlaps rejects subnets of different segments that overlap. It
// sorts the subnets by first address, shortest prefix first, and keeps a
// stack of the subnets that contain the current one: O(n log n).
func (p *parser) checkOverlaps(uses []addrUse) {
	subnets := distinctSubnets(uses)
	// Each realm on its own: overlaps between vrfs are fine.
	slices.SortFunc(subnets, func(a, b subnet) int {
		return cmp.Or(cmp.Compare(a.use.realm, b.use.realm), a.pfx.Addr().Compare(b.pfx.Addr()), cmp.Compare(a.pfx.Bits(), b.pfx.Bits()))
	})
	var stack []subnet
	reported := map[[2]int]bool{} // one error per pair of segments
	for i, s := range subnets {
		if i > 0 && subnets[i-1].use.realm != s.use.realm {
			stack = stack[:0]
		}
		for len(stack) > 0 && !stack[len(stack)-1].pfx.Contains(s.pfx.Addr()) {
			stack = stack[:len(stack)-1]
		}
		for i := len(stack) - 1; i >= 0; i-- {
			if o := stack[i].use.seg; o != s.use.seg {
				pair := [2]int{min(o, s.use.seg), max(o, s.use.seg)}
				if !reported[pair] {
					reported[pair] = true
					p.overlap(s, stack[i])
				}
				break
			}
		}
		stack = append(stack, s)
	}
}

// distinctSubnets returns each (subnet, segment) once, link-local ones
// and those of unconnected interfaces left out.
func distinctSubnets(uses []addrUse) []subnet {
	type key struct {
		pfx netip.Prefix
		seg int
	}
	seen := map[key]bool{}
	var out []subnet
	for i := range uses {
		u := &uses[i]
		k := key{u.pfx.Masked(), u.seg}
		if u.seg < 0 || u.pfx.Addr().IsLinkLocalUnicast() || seen[k] {
			continue
		}
		seen[k] = true
		out = append(out, subnet{pfx: k.pfx, use: u})
	}
	return out
}

// overlap reports two overlapping subnets at the one written last.
func (p *parser) overlap(a, b subnet) {
	if comparePos(a.use.pos, b.use.pos) < 0 {
		a, b = b, a
	}
	p.errorf(a.use.pos, "subnet %s of segment %s (%s on %s) overlaps %s of segment %s (%s on %s at %s); give each segment its own subnet",
		a.pfx, p.segs[a.use.seg].Name, a.use.pfx, a.use.owner,
		b.pfx, p.segs[b.use.seg].Name, b.use.pfx, b.use.owner, b.use.pos)
}

// checkMTUs makes both ends of a veth pair agree on the MTU, and checks
// that IPv6 gets at least 1280.
func (p *parser) checkMTUs() {
	decls := map[*Interface]*ifaceDecl{}
	for _, d := range p.allIfaces() {
		decls[d.it] = d
	}
	for _, l := range p.lab.Links {
		if l.Kind == Peer {
			p.shareMTU(decls[l.A], decls[l.B])
		}
	}
	for _, d := range p.allIfaces() {
		p.checkIPv6MTU(d, decls)
	}
	for _, d := range p.bridges {
		if d.b.MTU > 0 && d.b.MTU < MinIPv6MTU && hasIPv6(d.addrs) {
			p.errorf(d.mtuPos, "bridge %s has IPv6 addresses, which need mtu %d or more; its mtu is %d", d.b.Name, MinIPv6MTU, d.b.MTU)
		}
	}
}

// shareMTU gives an end without mtu the MTU of the other end.
func (p *parser) shareMTU(a, b *ifaceDecl) {
	switch {
	case a.it.MTU == 0:
		a.it.MTU = b.it.MTU
	case b.it.MTU == 0:
		b.it.MTU = a.it.MTU
	case a.it.MTU != b.it.MTU:
		if comparePos(a.mtuPos, b.mtuPos) < 0 {
			a, b = b, a
		}
		p.errorf(a.mtuPos, "mtu %d of %s differs from mtu %d of its peer %s (at %s); both ends of a cable have one MTU: set it on one end",
			a.it.MTU, a.it.Ref(), b.it.MTU, b.it.Ref(), b.mtuPos)
	}
}

func (p *parser) checkIPv6MTU(d *ifaceDecl, decls map[*Interface]*ifaceDecl) {
	mtu := d.it.MTU
	if mtu == 0 || mtu >= MinIPv6MTU || !hasIPv6(d.addrs) {
		return
	}
	if d.mtuPos.Line != 0 {
		p.errorf(d.mtuPos, "%s has IPv6 addresses, which need mtu %d or more; its mtu is %d", d.it.Ref(), MinIPv6MTU, mtu)
		return
	}
	peer := decls[farIface(d.it)]
	p.errorf(peer.mtuPos, "%s has IPv6 addresses, which need mtu %d or more; the mtu %d set here on its peer %s applies to it too",
		d.it.Ref(), MinIPv6MTU, mtu, peer.it.Ref())
}

// farIface returns the other interface of a Peer link.
func farIface(i *Interface) *Interface {
	if i.Link.A == i {
		return i.Link.B
	}
	return i.Link.A
}

func hasIPv6(addrs []netip.Prefix) bool {
	return slices.ContainsFunc(addrs, func(a netip.Prefix) bool { return a.Addr().Is6() })
}

// checkMACs rejects a MAC address used twice.
func (p *parser) checkMACs() {
	seen := map[string]*ifaceDecl{}
	for _, d := range p.allIfaces() {
		if d.it.MAC == nil {
			continue
		}
		k := d.it.MAC.String()
		if first, dup := seen[k]; dup {
			p.errorf(d.macPos, "mac %s is already used by %s at %s", k, first.it.Ref(), first.macPos)
			continue
		}
		seen[k] = d
	}
}

// checkRoutes checks each route against the interfaces and addresses of
// its node.
func (p *parser) checkRoutes(d *nodeDecl) {
	type key struct {
		to     netip.Prefix
		metric int
		table  int
	}
	seen := map[key]Pos{}
	for _, r := range d.routes {
		if r.r.Dev != "" && d.byName[r.r.Dev] == nil {
			p.errorf(r.devPos, "route dev %s: node %s has no interface %q %s", r.r.Dev, d.n.Name, r.r.Dev,
				choices("interfaces", r.r.Dev, names(d.n.Interfaces, ifName)))
			continue
		}
		if !r.ok {
			continue
		}
		if r.r.Via.IsValid() {
			p.checkGateway(d, r)
		}
		k := key{r.r.To, r.r.Metric, r.r.Table}
		if first, dup := seen[k]; dup {
			in := ""
			if r.r.VRF != "" {
				in = " vrf " + r.r.VRF
			}
			p.errorf(r.r.Pos, "duplicate route to %s metric %d in node %s%s (first at %s)", r.r.To, r.r.Metric, d.n.Name, in, first)
			continue
		}
		seen[k] = r.r.Pos
	}
}

// checkGateway checks that via is a neighbour: on a subnet of the node
// (of dev if given), and not the node itself.
func (p *parser) checkGateway(d *nodeDecl, r *routeDecl) {
	via := r.r.Via
	if via.Is6() && via.IsLinkLocalUnicast() {
		if r.r.Dev == "" {
			p.errorf(r.viaPos, "gateway %s is link-local: add dev: to say which interface reaches it", via)
		}
		return
	}
	// The interfaces of the route's table: the vrf's members, or those
	// in no vrf.
	var table []*ifaceDecl
	for _, i := range d.ifaces {
		if vrfOf(d, i) == r.vrf && i.it.Kind != KindVRF {
			table = append(table, i)
		}
	}
	for _, i := range table {
		if slices.ContainsFunc(i.addrs, func(a netip.Prefix) bool { return a.Addr() == via }) {
			p.errorf(r.viaPos, "gateway %s is an address of %s itself (on %s); via names the next router", via, d.n.Name, i.it.Name)
			return
		}
	}
	cands := table
	if r.r.Dev != "" {
		cands = []*ifaceDecl{d.byName[r.r.Dev]}
	}
	reached := false
	for _, i := range cands {
		for _, a := range i.addrs {
			if a.Contains(via) {
				if p.gatewayNotHost(r, i, a) {
					return
				}
				reached = true
			}
		}
	}
	if !reached {
		p.offSubnet(d, r, cands)
	}
}

// gatewayNotHost reports, and rejects, a gateway that is the network or
// broadcast address of an IPv4 subnet that reaches it: no router has it.
func (p *parser) gatewayNotHost(r *routeDecl, i *ifaceDecl, a netip.Prefix) bool {
	via, subnet := r.r.Via, a.Masked()
	if !via.Is4() || a.Bits() >= 31 {
		return false
	}
	what := ""
	switch via {
	case subnet.Addr():
		what = "network"
	case lastAddr(subnet):
		what = "broadcast"
	default:
		return false
	}
	p.errorf(r.viaPos, "gateway %s is the %s address of %s, the subnet of %s on %s; via names the address of a router on that subnet",
		via, what, subnet, a, i.it.Name)
	return true
}

// offSubnet reports a gateway that no address of cands reaches.
func (p *parser) offSubnet(d *nodeDecl, r *routeDecl, cands []*ifaceDecl) {
	via := r.r.Via
	if r.r.Dev == "" {
		p.errorf(r.viaPos, "gateway %s is not on any subnet of %s (%s has %s); add an address in its subnet or use dev",
			via, d.n.Name, d.n.Name, addrSummary(cands, via.Is4(), true))
		return
	}
	p.errorf(r.viaPos, "gateway %s is not on any subnet of %s:%s (%s has %s); add an address in its subnet to %s, or use the dev that reaches it",
		via, d.n.Name, r.r.Dev, r.r.Dev, addrSummary(cands, via.Is4(), false), r.r.Dev)
}

// addrSummary lists the addresses of one family on some interfaces:
// "10.0.0.2/24 on eth0, 10.1.0.2/24 on eth1".
func addrSummary(ifaces []*ifaceDecl, v4, withDev bool) string {
	var parts []string
	for _, i := range ifaces {
		for _, a := range i.addrs {
			if a.Addr().Is4() != v4 {
				continue
			}
			if withDev {
				parts = append(parts, fmt.Sprintf("%s on %s", a, i.it.Name))
			} else {
				parts = append(parts, a.String())
			}
		}
	}
	if len(parts) == 0 {
		return "no " + map[bool]string{true: "IPv4", false: "IPv6"}[v4] + " address"
	}
	if len(parts) > 4 {
		parts = append(parts[:4], "...")
	}
	return strings.Join(parts, ", ")
}
