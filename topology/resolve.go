package topology

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// assemble fills the model from the declarations, sorted by name.
func (p *parser) assemble() {
	l := p.lab
	for _, d := range p.bridges {
		d.b.Addresses = d.addrs
		p.setVLANs(&d.vlans, &d.b.PVID, &d.b.Tagged, "bridge "+d.b.Name)
		l.Bridges = append(l.Bridges, d.b)
	}
	for _, d := range p.nodeList {
		d.n.Interfaces = interfaces(d.ifaces)
		for _, r := range d.routes {
			if r.ok {
				d.n.Routes = append(d.n.Routes, r.r)
			}
		}
		l.Nodes = append(l.Nodes, d.n)
	}
	l.Host = interfaces(p.host)
	p.assembleOverlays()
	slices.SortFunc(l.Bridges, func(a, b *Bridge) int { return strings.Compare(a.Name, b.Name) })
	slices.SortFunc(l.Nodes, func(a, b *Node) int { return strings.Compare(a.Name, b.Name) })
}

func interfaces(decls []*ifaceDecl) []*Interface {
	out := make([]*Interface, 0, len(decls))
	for _, d := range decls {
		d.it.Addresses = d.addrs
		d.it.PVID, d.it.Tagged = d.vlans.pvid, slices.Sorted(slices.Values(d.vlans.tagged))
		out = append(out, d.it)
	}
	slices.SortFunc(out, func(a, b *Interface) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// resolver turns link keys into Links.
type resolver struct {
	p       *parser
	bridges map[string]*bridgeDecl
	nodes   map[string]*nodeDecl
	host    map[string]*ifaceDecl
	ports   map[*Bridge]int
	overlay map[string]*overlayDecl
}

// target is what a link key names: a bridge or an interface.
type target struct {
	bridge  *bridgeDecl
	iface   *ifaceDecl
	overlay *overlayDecl
}

func (p *parser) resolveLinks() {
	r := &resolver{p: p, bridges: map[string]*bridgeDecl{}, nodes: map[string]*nodeDecl{},
		host: map[string]*ifaceDecl{}, ports: map[*Bridge]int{}, overlay: map[string]*overlayDecl{}}
	for _, d := range p.bridges {
		r.bridges[d.b.Name] = d
	}
	for _, d := range p.overlays {
		if b := r.bridges[d.o.Name]; b != nil {
			p.errorf(d.o.Pos, "overlay %s has the name of bridge %s (at %s): a link: key names either, so give them different names", d.o.Name, d.o.Name, b.b.Pos)
			continue
		}
		r.overlay[d.o.Name] = d
	}
	for _, d := range p.nodeList {
		r.nodes[d.n.Name] = d
	}
	for _, d := range p.host {
		r.host[d.it.Name] = d
	}
	all := p.allIfaces()
	for _, d := range all {
		if d.link != "" && !d.bad {
			r.link(d)
		}
	}
	r.trunks()
	for _, d := range p.bridges {
		r.ports[d.b] += len(d.b.Taps)
	}
	p.checkTaps()
	p.checkConnected(all)
	p.checkBridgeVLANs()
	p.checkPorts(r.ports)
	sortLinks(p.lab.Links)
}

// sortLinks sorts links by the Ref of their A end, then by kind; trunks
// come last, by the name of the bridge that declares them.
func sortLinks(links []*Link) {
	type keyed struct {
		trunk bool
		ref   string
		l     *Link
	}
	k := make([]keyed, len(links))
	for i, l := range links {
		if l.Kind == Trunk {
			k[i] = keyed{true, l.Bridge.Name, l}
		} else {
			k[i] = keyed{false, l.A.Ref(), l}
		}
	}
	slices.SortFunc(k, func(a, b keyed) int {
		return cmp.Or(compareBool(a.trunk, b.trunk), strings.Compare(a.ref, b.ref), cmp.Compare(a.l.Kind, b.l.Kind))
	})
	for i := range k {
		links[i] = k[i].l
	}
}

// compareBool orders false before true.
func compareBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case b:
		return -1
	}
	return 1
}

// allIfaces returns every interface declaration in file order.
func (p *parser) allIfaces() []*ifaceDecl {
	var all []*ifaceDecl
	for _, d := range p.nodeList {
		all = append(all, d.ifaces...)
	}
	all = append(all, p.host...)
	slices.SortStableFunc(all, func(a, b *ifaceDecl) int { return comparePos(a.it.Pos, b.it.Pos) })
	return all
}

func (r *resolver) link(d *ifaceDecl) {
	if d.it.Link != nil {
		return // the other end declared this cable first
	}
	t, err := r.target(d)
	switch {
	case err != nil:
		r.p.errorf(d.linkPos, "link %s -- %s: %v", d.it.Ref(), d.link, err)
		d.bad = true
	case t.bridge != nil:
		r.port(d, t.bridge)
	case t.overlay != nil:
		r.joinOverlay(d, t.overlay)
	default:
		r.peer(d, t.iface)
	}
}

// target finds what d's link key names.
func (r *resolver) target(d *ifaceDecl) (target, error) {
	node, ifname, isIf := strings.Cut(d.link, ":")
	switch {
	case !isIf && d.it.OnHost():
		return target{}, fmt.Errorf("a host interface links to a node: write NODE:IFNAME")
	case !isIf && r.overlay[d.link] != nil:
		return target{overlay: r.overlay[d.link]}, nil
	case !isIf:
		return r.bridge(d.link)
	case node == "" || ifname == "" || strings.Contains(ifname, ":"):
		return target{}, fmt.Errorf("write BRIDGE, NODE:IFNAME or host:IFNAME")
	case node == HostNode:
		return r.hostIface(d, ifname)
	}
	return r.nodeIface(d, node, ifname)
}

func (r *resolver) bridge(name string) (target, error) {
	if b, ok := r.bridges[name]; ok {
		return target{bridge: b}, nil
	}
	msg := fmt.Sprintf("no bridge named %q %s", name, choices("bridges", name, names(r.p.lab.Bridges, bridgeName)))
	if len(r.overlay) > 0 {
		msg += fmt.Sprintf(" and no overlay %s", choices("overlays", name, names(r.p.lab.Overlays, func(o *Overlay) string { return o.Name })))
	}
	if _, ok := r.nodes[name]; ok {
		msg += fmt.Sprintf("; a cable to node %s is written %s:IFNAME", name, name)
	}
	if name == HostNode {
		msg += "; a cable to the host is written host:IFNAME, with IFNAME declared under host: interfaces: (docs/format.md, Host)"
	}
	return target{}, fmt.Errorf("%s", msg)
}

func (r *resolver) hostIface(d *ifaceDecl, name string) (target, error) {
	if d.it.OnHost() {
		return target{}, fmt.Errorf("a cable between two host interfaces is not supported: link the host interface to a node")
	}
	t, ok := r.host[name]
	if !ok {
		return target{}, fmt.Errorf("no host interface named %q %s; declare it under host: interfaces:",
			name, choices("host interfaces", name, names(r.p.lab.Host, ifName)))
	}
	return target{iface: t}, nil
}

func (r *resolver) nodeIface(d *ifaceDecl, node, name string) (target, error) {
	n, ok := r.nodes[node]
	if !ok {
		return target{}, fmt.Errorf("no node named %q %s", node, choices("nodes", node, names(r.p.lab.Nodes, nodeName)))
	}
	t, ok := n.byName[name]
	switch {
	case !ok && len(n.ifaces) == 0:
		return target{}, fmt.Errorf("node %s has no interfaces; declare %s under %s.interfaces", node, name, n.path)
	case !ok:
		return target{}, fmt.Errorf("node %s has no interface %q %s", node, name, choices("interfaces", name, names(n.n.Interfaces, ifName)))
	case t == d:
		return target{}, fmt.Errorf("an interface cannot link to itself")
	}
	return target{iface: t}, nil
}

func (r *resolver) port(d *ifaceDecl, b *bridgeDecl) {
	l := &Link{Kind: Port, A: d.it, Bridge: b.b, Pos: d.linkPos}
	d.it.Link = l
	r.ports[b.b]++
	r.p.lab.Links = append(r.p.lab.Links, l)
}

// peer cables d to t, unless t says otherwise or is taken.
func (r *resolver) peer(d, t *ifaceDecl) {
	if t.link != "" && t.link != d.it.Ref() {
		r.p.errorf(d.linkPos, "link %s -- %s: %s links to %s instead (at %s); declare a cable on one side only, or on both alike",
			d.it.Ref(), d.link, t.it.Ref(), t.link, t.linkPos)
		r.p.errorf(t.linkPos, "link %s -- %s: %s links to %s (at %s); declare a cable on one side only, or on both alike",
			t.it.Ref(), t.link, d.it.Ref(), d.link, d.linkPos)
		d.bad = true
		return
	}
	if t.it.Link != nil {
		r.p.errorf(d.linkPos, "interface %s is already linked to %s at %s", t.it.Ref(), farEnd(t.it.Link, t.it), t.it.Link.Pos)
		d.bad = true
		return
	}
	a, b := d.it, t.it
	if b.Ref() < a.Ref() {
		a, b = b, a
	}
	l := &Link{Kind: Peer, A: a, B: b, Pos: d.linkPos}
	a.Link, b.Link = l, l
	r.p.lab.Links = append(r.p.lab.Links, l)
}

// farEnd names the other end of l, seen from i.
func farEnd(l *Link, i *Interface) string {
	switch {
	case l.Kind == Port:
		return l.Bridge.Name
	case l.A == i:
		return l.B.Ref()
	}
	return l.A.Ref()
}

func (p *parser) checkConnected(all []*ifaceDecl) {
	for _, d := range all {
		switch {
		case d.it.Link != nil || d.bad || d.overlay != nil || !d.it.IsCable():
		case d.it.OnHost():
			p.errorf(d.it.Pos, "host interface %s is not connected: add link: NODE:IFNAME, or link: host:%s on the node's interface", d.it.Name, d.it.Name)
		default:
			p.errorf(d.it.Pos, "interface %s is not connected: add link: BRIDGE, NODE:IFNAME or host:IFNAME", d.it.Ref())
		}
	}
}

// MaxBridgePorts is the kernel's limit on the ports of one bridge.
const MaxBridgePorts = 1024

// checkPorts counts the ports of each bridge, the ends of its trunks
// included.
func (p *parser) checkPorts(ports map[*Bridge]int) {
	for _, b := range p.lab.Bridges {
		if n := ports[b]; n > MaxBridgePorts {
			p.errorf(b.Pos, "bridge %s has %d ports%s; a Linux bridge holds at most %d ports; split the segment over several bridges joined by trunks (link: BRIDGE on a bridge)",
				b.Name, n, p.trunkEnds(b), MaxBridgePorts)
		}
	}
}

// trunkEnds says how many of a bridge's ports are trunk ends, if any.
func (p *parser) trunkEnds(b *Bridge) string {
	n := 0
	for _, l := range p.lab.Links {
		if l.Kind == Trunk && (l.Bridge == b || l.Uplink == b) {
			n++
		}
	}
	switch n {
	case 0:
		return ""
	case 1:
		return ", a trunk to another bridge included"
	}
	return fmt.Sprintf(", %d trunks to other bridges included", n)
}

// choices lists the names a reference could have meant: all of them when
// few, else the closest one.
func choices(noun, name string, all []string) string {
	if len(all) == 0 {
		return "(there are no " + noun + ")"
	}
	list := "(" + noun + ": " + quoteList(all) + ")"
	if len(all) > 10 {
		if near := closest(name, all); near != "" {
			return fmt.Sprintf("(did you mean %s? %d %s)", near, len(all), noun)
		}
	}
	return list
}

func names[T any](items []T, name func(T) string) []string {
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = name(it)
	}
	return out
}

func bridgeName(b *Bridge) string { return b.Name }
func nodeName(n *Node) string     { return n.Name }
func ifName(i *Interface) string  { return i.Name }
