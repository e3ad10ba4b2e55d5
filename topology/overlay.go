package topology

import (
	"net/netip"
	"slices"
	"strings"
)

// Overlay is a layer-2 segment carried between nodes in VXLAN over the
// lab's own cables (the underlay). Each member is a node's interface with
// link: OVERLAY and underlay: IFNAME: a VXLAN device in that node whose
// tunnel leaves by the underlay interface, from its address, to the
// underlay addresses of every other member (a static list of remotes: no
// multicast).
type Overlay struct {
	Name string
	// VNI is the VXLAN network identifier, 1 to 16777215, unique in the lab.
	VNI int
	// Port is the UDP port; 4789 when the file gives none.
	Port int
	// Subnets are the segment's subnets, as written or from the pool.
	Subnets []netip.Prefix
	Pos     Pos
}

// DefaultVXLANPort is the IANA port of VXLAN.
const DefaultVXLANPort = 4789

// VXLANOverhead is what VXLAN adds to a frame over an IPv4 underlay (outer
// IPv4 20, UDP 8, VXLAN 8, inner Ethernet 14) and over an IPv6 one (outer
// IPv6 40).
const (
	VXLANOverhead4 = 50
	VXLANOverhead6 = 70
)

// Overlay returns the overlay with the given name, or nil.
func (l *Lab) Overlay(name string) *Overlay {
	for _, o := range l.Overlays {
		if o.Name == name {
			return o
		}
	}
	return nil
}

// OverlayMembers returns the interfaces on an overlay, by node name.
func (l *Lab) OverlayMembers(o *Overlay) []*Interface {
	var out []*Interface
	for _, n := range l.Nodes {
		for _, i := range n.Interfaces {
			if i.Overlay == o {
				out = append(out, i)
			}
		}
	}
	return out
}

// OverlayEnd is one tunnel end of an overlay: where the VXLAN device of
// interface i sends from and to.
type OverlayEnd struct {
	// Local is the underlay interface's address the tunnel uses: its
	// first IPv4 address, or its first IPv6 one when every member's
	// underlay has IPv6 and not all have IPv4.
	Local netip.Addr
	// Remotes are the Local addresses of the other members, by node.
	Remotes []netip.Addr
	// MTU is the interface's MTU: as written, else its underlay's MTU
	// (1500 if none) minus the VXLAN overhead.
	MTU int
}

// OverlayEnd computes the tunnel end of an overlay's interface; ok is
// false when i is on no overlay or an underlay lacks an address (which
// validation rejects).
func (l *Lab) OverlayEnd(i *Interface) (OverlayEnd, bool) {
	if i.Overlay == nil {
		return OverlayEnd{}, false
	}
	members := l.OverlayMembers(i.Overlay)
	six := l.overlaySix(members)
	var e OverlayEnd
	for _, m := range members {
		a, ok := underlayAddr(l.underlayOf(m), six)
		if !ok {
			return OverlayEnd{}, false
		}
		if m == i {
			e.Local = a
		} else {
			e.Remotes = append(e.Remotes, a)
		}
	}
	e.MTU = i.MTU
	if e.MTU == 0 {
		e.MTU = underlayMTU(l.underlayOf(i)) - overhead(six)
	}
	return e, true
}

// overlaySix says whether an overlay's tunnels run over IPv6: when not
// every underlay has an IPv4 address but every one has an IPv6 one.
func (l *Lab) overlaySix(members []*Interface) bool {
	all4, all6 := true, true
	for _, m := range members {
		u := l.underlayOf(m)
		_, has4 := underlayAddr(u, false)
		_, has6 := underlayAddr(u, true)
		all4, all6 = all4 && has4, all6 && has6
	}
	return !all4 && all6
}

func (l *Lab) underlayOf(i *Interface) *Interface {
	if n := l.Node(i.Node); n != nil {
		return n.Interface(i.Underlay)
	}
	return nil
}

// underlayAddr is the first address of u of the family asked for, link
// local ones left out.
func underlayAddr(u *Interface, six bool) (netip.Addr, bool) {
	if u == nil {
		return netip.Addr{}, false
	}
	i := slices.IndexFunc(u.Addresses, func(a netip.Prefix) bool {
		return a.Addr().Is6() == six && !a.Addr().IsLinkLocalUnicast()
	})
	if i < 0 {
		return netip.Addr{}, false
	}
	return u.Addresses[i].Addr(), true
}

// underlayMTU is the MTU nslab gives the underlay interface: its own, or
// the larger of a node-to-node cable's two ends (see plan's vethOp), or
// the kernel's 1500.
func underlayMTU(u *Interface) int {
	if u == nil {
		return 1500
	}
	mtu := u.MTU
	if k := u.Link; k != nil && k.Kind == Peer {
		mtu = max(k.A.MTU, k.B.MTU)
	}
	if mtu == 0 {
		return 1500
	}
	return mtu
}

func overhead(six bool) int {
	if six {
		return VXLANOverhead6
	}
	return VXLANOverhead4
}

// overlayDecl is what the file says of an overlay.
type overlayDecl struct {
	o       *Overlay
	subnets prefixList
	vniPos  Pos
}

var overlayFields = map[string]field[*overlayDecl]{
	"vni":     decodeVNI,
	"port":    decodeVXLANPort,
	"subnets": func(p *parser, d *overlayDecl, e entry, path string) { p.decodeSubnets(&d.subnets, e, path) },
}

// MaxVNI is the largest VXLAN network identifier (24 bits).
const MaxVNI = 1<<24 - 1

func decodeOverlays(p *parser, _ *parser, e entry, path string) {
	for _, oe := range p.mapEntries(e.val, path, "overlay name") {
		if err := ValidBridgeName(oe.key); err != nil {
			p.errorf(oe.keyPos, "%v", strings.Replace(err.Error(), "bridge", "overlay", 1))
			continue
		}
		d := &overlayDecl{o: &Overlay{Name: oe.key, Port: DefaultVXLANPort, Pos: oe.keyPos}}
		decodeFields(p, oe.val, join(path, oe.key), overlayFields, d)
		if d.vniPos.Line == 0 && d.o.VNI == 0 {
			p.errorf(oe.keyPos, "overlay %s has no vni: write vni: N (1 to %d), a number no other overlay of the lab has", oe.key, MaxVNI)
		}
		p.overlays = append(p.overlays, d)
	}
}

func decodeVNI(p *parser, d *overlayDecl, e entry, path string) {
	d.o.VNI, d.vniPos, _ = p.integer(e.val, path, 1, MaxVNI)
	if d.vniPos.Line == 0 {
		d.vniPos = e.keyPos // out of range: reported, not reported again as missing
	}
}

func decodeVXLANPort(p *parser, d *overlayDecl, e entry, path string) {
	if port, _, ok := p.integer(e.val, path, 1, 65535); ok {
		d.o.Port = port
	}
}

func decodeUnderlay(p *parser, d *ifaceDecl, e entry, path string) {
	s, pos, ok := p.str(e.val, path)
	if ok && s == "" {
		p.errorf(pos, "%s is empty: write the name of the node's interface the overlay's tunnel runs over", path)
	}
	if ok && s != "" {
		d.underlay, d.underlayPos = s, pos
	}
}

// assembleOverlays puts the overlays in the model, by name.
func (p *parser) assembleOverlays() {
	for _, d := range p.overlays {
		p.lab.Overlays = append(p.lab.Overlays, d.o)
	}
	slices.SortFunc(p.lab.Overlays, func(a, b *Overlay) int { return strings.Compare(a.Name, b.Name) })
}

// joinOverlay makes d a member of overlay o.
func (r *resolver) joinOverlay(d *ifaceDecl, o *overlayDecl) {
	d.overlay = o
	d.it.Overlay, d.it.Underlay = o.o, d.underlay
}

// checkOverlays checks the overlays once addresses are assigned: each
// member names an underlay of its node that has an address, all members
// share a family, the MTU fits, and VNIs are unique.
func (p *parser) checkOverlays() {
	vnis := map[int]*overlayDecl{}
	for _, d := range p.overlays {
		if o := vnis[d.o.VNI]; o != nil && d.o.VNI != 0 {
			p.errorf(d.vniPos, "overlay %s has vni %d, as overlay %s has (at %s): give each overlay a vni of its own", d.o.Name, d.o.VNI, o.o.Name, o.vniPos)
			continue
		}
		vnis[d.o.VNI] = d
	}
	members := map[*overlayDecl][]*ifaceDecl{}
	for _, d := range p.allIfaces() {
		switch {
		case d.overlay != nil:
			members[d.overlay] = append(members[d.overlay], d)
		case d.underlay != "":
			p.errorf(d.underlayPos, "interface %s has underlay: but is on no overlay: underlay is for an interface with link: OVERLAY", d.it.Ref())
		}
	}
	for _, o := range p.overlays {
		p.checkOverlay(o, members[o])
	}
}

func (p *parser) checkOverlay(o *overlayDecl, ms []*ifaceDecl) {
	if len(ms) == 1 {
		p.errorf(ms[0].linkPos, "overlay %s has one member, %s: an overlay joins two nodes or more", o.o.Name, ms[0].it.Ref())
	}
	seen := map[string]*ifaceDecl{}
	ok := true
	for _, m := range ms {
		if sh := m.it.Shape; sh != nil {
			p.errorf(sh.Pos, "%s is on overlay %s, which is no cable: shape its underlay %s instead", m.it.Ref(), o.o.Name, m.underlay)
		}
		if first := seen[m.it.Node]; first != nil {
			p.errorf(m.linkPos, "node %s is on overlay %s twice (%s at %s): one interface per node", m.it.Node, o.o.Name, first.it.Name, first.linkPos)
			ok = false
		}
		seen[m.it.Node] = m
		ok = p.checkUnderlay(m) && ok
	}
	if !ok || len(ms) < 2 {
		return
	}
	var its []*Interface
	for _, m := range ms {
		its = append(its, m.it)
	}
	six := p.lab.overlaySix(its)
	for _, m := range ms {
		u := p.lab.underlayOf(m.it)
		if _, has := underlayAddr(u, six); !has {
			p.errorf(m.underlayPos, "overlay %s: underlay %s of %s has no %s address, which the tunnels of the other members use: give it one (addresses:, or subnets: on its segment)",
				o.o.Name, u.Ref(), m.it.Ref(), map[bool]string{false: "IPv4", true: "IPv6"}[six])
			continue
		}
		if limit := underlayMTU(u) - overhead(six); m.it.MTU > limit {
			p.errorf(m.mtuPos, "mtu %d of %s is too large for overlay %s: its underlay %s has MTU %d and VXLAN over %s takes %d bytes of it, so at most %d",
				m.it.MTU, m.it.Ref(), o.o.Name, u.Ref(), underlayMTU(u), map[bool]string{false: "IPv4", true: "IPv6"}[six], overhead(six), limit)
		}
	}
}

// checkUnderlay checks that m names an interface of its node, other than
// itself and not on an overlay.
func (p *parser) checkUnderlay(m *ifaceDecl) bool {
	n := p.lab.Node(m.it.Node)
	if m.underlay == "" {
		p.errorf(m.linkPos, "%s is on overlay %s but names no underlay: add underlay: IFNAME, the interface of %s its tunnel runs over %s",
			m.it.Ref(), m.overlay.o.Name, m.it.Node, choices("interfaces", "", names(n.Interfaces, ifName)))
		return false
	}
	u := n.Interface(m.underlay)
	switch {
	case u == nil:
		p.errorf(m.underlayPos, "node %s has no interface %q to carry overlay %s %s", m.it.Node, m.underlay, m.overlay.o.Name, choices("interfaces", m.underlay, names(n.Interfaces, ifName)))
	case u == m.it:
		p.errorf(m.underlayPos, "%s cannot carry its own tunnel: name another interface of %s", m.it.Ref(), m.it.Node)
	case u.Overlay != nil:
		p.errorf(m.underlayPos, "underlay %s is itself on overlay %s: nslab does not nest overlays; name an interface with a cable", u.Ref(), u.Overlay.Name)
	default:
		return true
	}
	return false
}

func (p *parser) overlayDecl(o *Overlay) *overlayDecl {
	for _, d := range p.overlays {
		if d.o == o {
			return d
		}
	}
	return nil
}
