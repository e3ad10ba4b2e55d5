package topology

import (
	"maps"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// The declarations hold what the file says about a model object,
// with the positions that the model does not keep.
type (
	bridgeDecl struct {
		b *Bridge
		addrList
		subnets    prefixList
		gatewayPos Pos
		natPos     Pos
		mtuPos     Pos
		vlans      vlanDecl
		link       string      // the bridge its trunk goes to
		linkPos    Pos         // where link was written
		up         *bridgeDecl // the resolved link, if valid
	}
	nodeDecl struct {
		n      *Node
		path   string
		ifaces []*ifaceDecl // in file order
		byName map[string]*ifaceDecl
		routes []*routeDecl
		// host is the machine the node is placed on (host:), if written.
		host    string
		hostPos Pos
	}
	ifaceDecl struct {
		it *Interface
		addrList
		subnets prefixList
		link    string
		linkPos Pos
		mtuPos  Pos
		macPos  Pos
		bad     bool // its link is in error: not reported as unconnected
		// underlay is the interface an overlay's tunnel runs over.
		underlay    string
		underlayPos Pos
		overlay     *overlayDecl // the overlay its link names, if any
		kd          kindDecl
		vlans       vlanDecl
	}
	routeDecl struct {
		r         Route
		ok        bool // To and Via (if any) are valid
		hasTo     bool
		toDefault bool
		toPos     Pos
		viaPos    Pos
		devPos    Pos
		vrf       string
		vrfPos    Pos
	}
	// addrList is a list of addresses and where each was written.
	addrList struct {
		addrs   []netip.Prefix
		addrPos []Pos
	}
	// prefixList is a list of subnets and where each was written.
	prefixList struct {
		pfxs []netip.Prefix
		pos  []Pos
		key  Pos // where the key was written
	}
)

// field decodes the value of one key into a declaration.
type field[T any] func(p *parser, d T, e entry, path string)

// The keys of each object of the format. These tables are the parser's
// only list of keys; the schema test compares docs/nslab.schema.json
// against them.
var (
	labFields = map[string]field[*parser]{
		"version":    decodeVersion,
		"name":       decodeLabName,
		"addressing": decodeAddressing,
		"routing":    decodeRouting,
		"bridges":    decodeBridges,
		"overlays":   decodeOverlays,
		"nodes":      decodeNodes,
		"host":       decodeHost,
		"hosts":      decodeMachines,
	}
	addressingFields = map[string]field[*parser]{
		"pool": func(p *parser, _ *parser, e entry, path string) { p.decodeSubnets(&p.pool, e, path) },
	}
	hostFields = map[string]field[*parser]{
		"interfaces": decodeHostInterfaces,
	}
	bridgeFields = map[string]field[*bridgeDecl]{
		"addresses": func(p *parser, d *bridgeDecl, e entry, path string) { p.decodeAddrs(&d.addrList, e, path) },
		"subnets":   func(p *parser, d *bridgeDecl, e entry, path string) { p.decodeSubnets(&d.subnets, e, path) },
		"gateway":   decodeGateway,
		"nat":       func(p *parser, d *bridgeDecl, e entry, path string) { d.natPos = p.flag(&d.b.NAT, e, path) },
		"nat6":      func(p *parser, d *bridgeDecl, e entry, path string) { d.natPos = p.flag(&d.b.NAT6, e, path) },
		"mtu":       func(p *parser, d *bridgeDecl, e entry, path string) { d.b.MTU, d.mtuPos = p.decodeMTU(e, path) },
		"link":      decodeBridgeLink,
		"taps":      decodeTaps,
		"vlan":      func(p *parser, d *bridgeDecl, e entry, path string) { p.decodePVID(&d.vlans, e, path) },
		"vlans":     func(p *parser, d *bridgeDecl, e entry, path string) { p.decodeTagged(&d.vlans, e, path) },
	}
	nodeFields = map[string]field[*nodeDecl]{
		"router":     decodeRouter,
		"hostname":   decodeHostname,
		"host":       decodeNodeHost,
		"publish":    decodePublish,
		"interfaces": decodeNodeInterfaces,
		"routes":     decodeRoutes,
		"sysctls":    decodeSysctls,
		"services":   decodeServices,
	}
	ifaceFields = map[string]field[*ifaceDecl]{
		"link":      decodeLink,
		"addresses": func(p *parser, d *ifaceDecl, e entry, path string) { p.decodeAddrs(&d.addrList, e, path) },
		"subnets":   func(p *parser, d *ifaceDecl, e entry, path string) { p.decodeSubnets(&d.subnets, e, path) },
		"mtu":       func(p *parser, d *ifaceDecl, e entry, path string) { d.it.MTU, d.mtuPos = p.decodeMTU(e, path) },
		"mac":       decodeMAC,
		"shape":     decodeShape,
		"underlay":  decodeUnderlay,
		"vlan":      func(p *parser, d *ifaceDecl, e entry, path string) { p.decodePVID(&d.vlans, e, path) },
		"vlans":     func(p *parser, d *ifaceDecl, e entry, path string) { p.decodeTagged(&d.vlans, e, path) },
	}
	routeFields = map[string]field[*routeDecl]{
		"to":     decodeRouteTo,
		"via":    decodeRouteVia,
		"dev":    decodeRouteDev,
		"metric": decodeRouteMetric,
		"vrf":    decodeRouteVRF,
	}
)

// formatKeys returns the keys of every object of the format, by the name
// of its definition in the JSON Schema ("" is the top level).
func formatKeys() map[string][]string {
	return map[string][]string{
		"":              slices.Sorted(maps.Keys(labFields)),
		"addressing":    slices.Sorted(maps.Keys(addressingFields)),
		"host":          slices.Sorted(maps.Keys(hostFields)),
		"machine":       slices.Sorted(maps.Keys(machineFields)),
		"bridge":        slices.Sorted(maps.Keys(bridgeFields)),
		"overlay":       slices.Sorted(maps.Keys(overlayFields)),
		"tap":           slices.Sorted(maps.Keys(tapFields)),
		"node":          slices.Sorted(maps.Keys(nodeFields)),
		"interface":     slices.Sorted(maps.Keys(nodeIfaceFields)),
		"hostInterface": slices.Sorted(maps.Keys(ifaceFields)),
		"route":         slices.Sorted(maps.Keys(routeFields)),
		"shape":         slices.Sorted(maps.Keys(shapeFields)),
		"service":       slices.Sorted(maps.Keys(serviceFields)),
		"ready":         slices.Sorted(maps.Keys(readyFields)),
		"stop":          slices.Sorted(maps.Keys(stopFields)),
	}
}

// decodeFields decodes the mapping n into d, key by key. It reports
// whether all keys were known.
func decodeFields[T any](p *parser, n *yaml.Node, path string, fields map[string]field[T], d T) bool {
	known := true
	for _, e := range p.mapEntries(n, path, "key") {
		f, ok := fields[e.key]
		if !ok {
			p.unknownKey(e, path, slices.Sorted(maps.Keys(fields)))
			known = false
			continue
		}
		f(p, d, e, join(path, e.key))
	}
	return known
}

func (p *parser) unknownKey(e entry, path string, allowed []string) {
	if near := closest(e.key, allowed); near != "" {
		p.errorf(e.keyPos, "unknown key %q in %s; did you mean %q?", e.key, where(path), near)
		return
	}
	p.errorf(e.keyPos, "unknown key %q in %s (allowed keys: %s)", e.key, where(path), quoteList(allowed))
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func (p *parser) decodeLab(root *yaml.Node) {
	decodeFields(p, root, "", labFields, p)
}

func decodeVersion(p *parser, _ *parser, e entry, path string) {
	n := p.deref(e.val)
	if n == nil {
		return
	}
	if typeOf(n) != tagInt || n.Value != "1" {
		p.errorf(p.posOf(n), "version: expected 1, got %s; this nslab reads version 1 files", describe(n))
	}
}

func decodeLabName(p *parser, _ *parser, e entry, path string) {
	s, pos, ok := p.str(e.val, path)
	if !ok {
		return
	}
	if err := ValidLabName(s); err != nil {
		p.errorf(pos, "%v", err)
		return
	}
	p.lab.Name, p.nameSet = s, true
}

func decodeBridges(p *parser, _ *parser, e entry, path string) {
	for _, be := range p.mapEntries(e.val, path, "bridge name") {
		if err := ValidBridgeName(be.key); err != nil {
			p.errorf(be.keyPos, "%v", err)
			continue
		}
		d := &bridgeDecl{b: &Bridge{Name: be.key, Pos: be.keyPos}}
		decodeFields(p, be.val, join(path, be.key), bridgeFields, d)
		p.bridges = append(p.bridges, d)
	}
}

func decodeNodes(p *parser, _ *parser, e entry, path string) {
	for _, ne := range p.mapEntries(e.val, path, "node name") {
		if err := ValidNodeName(ne.key); err != nil {
			p.errorf(ne.keyPos, "%v", err)
			continue
		}
		d := &nodeDecl{n: &Node{Name: ne.key, Pos: ne.keyPos}, path: join(path, ne.key), byName: map[string]*ifaceDecl{}}
		decodeFields(p, ne.val, d.path, nodeFields, d)
		p.nodeList = append(p.nodeList, d)
	}
}

func decodeHost(p *parser, _ *parser, e entry, path string) {
	decodeFields(p, e.val, path, hostFields, p)
}

func decodeHostInterfaces(p *parser, _ *parser, e entry, path string) {
	p.host = p.decodeInterfaces(e, path, HostNode)
}

func decodeNodeInterfaces(p *parser, d *nodeDecl, e entry, path string) {
	d.ifaces = p.decodeInterfaces(e, path, d.n.Name)
	for _, i := range d.ifaces {
		d.byName[i.it.Name] = i
	}
}

func (p *parser) decodeInterfaces(e entry, path, owner string) []*ifaceDecl {
	var out []*ifaceDecl
	for _, ie := range p.mapEntries(e.val, path, "interface name") {
		if err := ValidInterfaceName(ie.key); err != nil {
			p.errorf(ie.keyPos, "%v", err)
			continue
		}
		d := &ifaceDecl{it: &Interface{Node: owner, Name: ie.key, Pos: ie.keyPos}}
		fields := ifaceFields
		if owner != HostNode {
			fields = nodeIfaceFields
		}
		if !decodeFields(p, ie.val, join(path, ie.key), fields, d) {
			d.bad = true // a misspelt link: do not also call it unconnected
		}
		out = append(out, d)
	}
	return out
}

func decodeRouting(p *parser, _ *parser, e entry, path string) {
	s, pos, ok := p.str(e.val, path)
	if !ok {
		return
	}
	if s != RoutingStatic && s != RoutingAuto {
		p.errorf(pos, "routing %q: write auto (nslab adds shortest-path routes) or static (only the routes the file writes)", s)
		return
	}
	p.lab.Routing, p.routingPos = s, pos
}

func decodeAddressing(p *parser, _ *parser, e entry, path string) {
	decodeFields(p, e.val, path, addressingFields, p)
}

func decodeGateway(p *parser, d *bridgeDecl, e entry, path string) {
	d.gatewayPos = p.flag(&d.b.Gateway, e, path)
}

// flag decodes a boolean key into v and returns where the key is.
func (p *parser) flag(v *bool, e entry, path string) Pos {
	*v, _ = p.boolean(e.val, path)
	return e.keyPos
}

// decodeSubnets reads a list of subnets, at most one per family.
func (p *parser) decodeSubnets(l *prefixList, e entry, path string) {
	l.key = e.keyPos
	var seen [2]Pos
	for i, n := range p.list(e.val, path, true) {
		if n = p.deref(n); n == nil {
			continue
		}
		s, pos, ok := p.str(n, listPath(path, i))
		if !ok {
			continue
		}
		pfx, err := netip.ParsePrefix(s)
		if err != nil || pfx != pfx.Masked() {
			if err == nil {
				p.errorf(pos, "subnet %s has host bits set: write it as %s", s, pfx.Masked())
			} else {
				p.errorf(pos, "%s is not a subnet such as 10.1.0.0/24 or fd10:1::/64: %s", s, netipReason(err))
			}
			continue
		}
		f := family(pfx.Addr())
		if why := reservedOverlap(pfx); why != "" {
			p.errorf(pos, "%s %s takes in %s, whose addresses no interface can have: use a private subnet such as %s",
				map[bool]string{true: "pool", false: "subnet"}[strings.HasSuffix(path, "pool")], s, why, [2]string{"10.128.0.0/16", "fd10:80::/48"}[f])
			continue
		}
		if min := [2]int{30, 126}[f]; pfx.Bits() > min+1 {
			p.errorf(pos, "subnet %s is too small to hold two addresses: use /%d or shorter", s, min+1)
			continue
		}
		if seen[f].Line != 0 {
			p.errorf(pos, "a second %s subnet %s (the first at %s): a segment has at most one subnet per family", [2]string{"IPv4", "IPv6"}[f], s, seen[f])
			continue
		}
		seen[f] = pos
		l.pfxs = append(l.pfxs, pfx)
		l.pos = append(l.pos, pos)
	}
}

// family is 0 for IPv4, 1 for IPv6.
func family(a netip.Addr) int {
	if a.Is4() {
		return 0
	}
	return 1
}

func decodeHostname(p *parser, d *nodeDecl, e entry, path string) {
	s, pos, ok := p.str(e.val, path)
	if !ok {
		return
	}
	if err := ValidHostname(s); err != nil {
		p.errorf(pos, "%s: %v", path, err)
		return
	}
	d.n.Hostname = s
}

func decodeRouter(p *parser, d *nodeDecl, e entry, path string) {
	d.n.Router, _ = p.boolean(e.val, path)
}

func decodeLink(p *parser, d *ifaceDecl, e entry, path string) {
	s, pos, ok := p.str(e.val, path)
	if ok && s == "" {
		p.errorf(pos, "%s is empty: write BRIDGE, NODE:IFNAME or host:IFNAME", path)
	}
	if !ok || s == "" {
		d.bad = true
		return
	}
	d.link, d.linkPos = s, pos
}

func decodeBridgeLink(p *parser, d *bridgeDecl, e entry, path string) {
	s, pos, ok := p.str(e.val, path)
	if ok && s == "" {
		p.errorf(pos, "%s is empty: write the name of the bridge to join", path)
	}
	if ok && s != "" {
		d.link, d.linkPos = s, pos
	}
}

func (p *parser) decodeMTU(e entry, path string) (int, Pos) {
	mtu, pos, _ := p.integer(e.val, path, MinMTU, MaxMTU)
	return mtu, pos
}

func (p *parser) decodeAddrs(l *addrList, e entry, path string) {
	items := p.list(e.val, path, true)
	l.addrs = slices.Grow(l.addrs, len(items))
	l.addrPos = slices.Grow(l.addrPos, len(items))
	for i, n := range items {
		if n = p.deref(n); n == nil {
			continue
		}
		if t := typeOf(n); t != tagStr && t != tagInt && t != tagFloat {
			p.str(n, listPath(path, i)) // the path only for the message
			continue
		}
		s, pos := n.Value, p.posOf(n)
		pfx, err := parseAddress(s)
		if err != nil {
			p.errorf(pos, "%v", err)
			continue
		}
		l.addrs = append(l.addrs, pfx)
		l.addrPos = append(l.addrPos, pos)
	}
}

func decodeMAC(p *parser, d *ifaceDecl, e entry, path string) {
	s, pos, ok := p.str(e.val, path)
	if !ok {
		return
	}
	mac, err := parseMAC(s)
	if err != nil {
		p.errorf(pos, "%v", err)
		return
	}
	d.it.MAC, d.macPos = mac, pos
}

func listPath(path string, i int) string {
	return path + "[" + strconv.Itoa(i) + "]"
}
