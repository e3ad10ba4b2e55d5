package check

import (
	"net/netip"
	"strconv"
	"strings"

	"github.com/nslab/nslab/topology"
)

// oldExpect is the quadratic Expect this package had before its
// indexed model, kept as an oracle: the new one must agree with it.
func oldExpect(lab *topology.Lab) []Probe {
	w := oNewWorld(lab)
	dsts := w.destinations()
	var out []Probe
	for _, s := range w.order {
		for _, d := range dsts {
			if p, ok := w.probe(s, d); ok {
				out = append(out, p)
			}
		}
	}
	return out
}

// stack is the model of one network namespace's IP layer: its addresses,
// its routing table and the sysctls that change forwarding decisions.
type oStack struct {
	name   string
	ifaces []oIface
	routes []oRoute
	fwd    [2]bool // forwarding, by family
	noEcho [2]bool // icmp echo_ignore_all, by family
	// rpFilter holds IPv4 rp_filter values by device ("all" included).
	rpFilter map[string]int
	// v6Off lists devices ("all", "default" included) with IPv6 disabled.
	v6Off map[string]bool
	local map[netip.Addr]bool
}

func oNewStack(name string) *oStack {
	return &oStack{name: name, rpFilter: map[string]int{}, v6Off: map[string]bool{}, local: map[netip.Addr]bool{}}
}

// iface is an addressed interface of a stack.
type oIface struct {
	dev   string
	addrs []netip.Prefix
}

// route is one entry of a stack's main routing table.
type oRoute struct {
	dst       netip.Prefix
	via       netip.Addr // zero for a connected or device route
	dev       string
	metric    int
	connected bool
}

// newNodeStack models a node: its interfaces, connected and static
// routes, and the sysctls that matter to reachability.
func oNewNodeStack(n *topology.Node) *oStack {
	s := oNewStack(n.Name)
	for _, sc := range n.Sysctls {
		s.applySysctl(sc.Key, sc.Value)
	}
	if n.Router {
		s.fwd = [2]bool{true, true}
	}
	for _, i := range n.Interfaces {
		s.addIface(i.Name, i.Addresses)
	}
	for _, r := range n.Routes {
		if rt, ok := s.staticRoute(r); ok {
			s.routes = append(s.routes, rt)
		}
	}
	return s
}

// newHostStack models the root namespace as far as the lab goes: the
// bridges' host-side addresses and the host ends of node–host cables,
// with connected routes only and no forwarding. The host's other routes
// are deliberately unknown: nothing beyond the lab segments is expected.
func oNewHostStack(lab *topology.Lab) *oStack {
	s := oNewStack(topology.HostNode)
	for _, b := range lab.Bridges {
		s.addIface(b.Name, b.Addresses)
	}
	for _, i := range lab.Host {
		s.addIface(i.Name, i.Addresses)
	}
	return s
}

// addIface records an interface's usable addresses and their connected
// routes.
func (s *oStack) addIface(dev string, addrs []netip.Prefix) {
	var keep []netip.Prefix
	for _, p := range addrs {
		if !p.IsValid() || (p.Addr().Is6() && s.ipv6Off(dev)) {
			continue
		}
		p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits())
		keep = append(keep, p)
		s.local[p.Addr()] = true
		s.routes = append(s.routes, oConnectedRoute(p, dev))
	}
	if len(keep) > 0 {
		s.ifaces = append(s.ifaces, oIface{dev: dev, addrs: keep})
	}
}

func oConnectedRoute(p netip.Prefix, dev string) oRoute {
	r := oRoute{dst: p.Masked(), dev: dev, connected: true}
	if p.Addr().Is6() {
		r.metric = metricConnected6
	}
	return r
}

// staticRoute turns a model route into a table entry, or reports false
// when the kernel would refuse it (gateway not on link, unknown device).
func (s *oStack) staticRoute(r topology.Route) (oRoute, bool) {
	if !r.To.IsValid() {
		return oRoute{}, false
	}
	rt := oRoute{dst: r.To.Masked(), via: r.Via, dev: r.Dev, metric: r.Metric}
	if rt.metric == 0 && r.To.Addr().Is6() {
		rt.metric = metricStatic6
	}
	if !r.Via.IsValid() {
		return rt, r.Dev != "" && s.oIface(r.Dev) != nil
	}
	if r.Via.Is4() != r.To.Addr().Is4() {
		return oRoute{}, false
	}
	if rt.dev == "" {
		rt.dev = s.connectedDev(r.Via)
		return rt, rt.dev != ""
	}
	return rt, s.oIface(rt.dev) != nil && (r.Via.IsLinkLocalUnicast() || s.onLink(rt.dev, r.Via))
}

// applySysctl records the settings that change reachability. Keys may
// use dots or slashes.
func (s *oStack) applySysctl(key, value string) {
	key = strings.ReplaceAll(key, "/", ".")
	on := strings.TrimSpace(value) == "1"
	switch key {
	case "net.ipv4.ip_forward", "net.ipv4.conf.all.forwarding":
		s.fwd[v4] = on
	case "net.ipv6.conf.all.forwarding":
		s.fwd[v6] = on
	case "net.ipv4.icmp_echo_ignore_all":
		s.noEcho[v4] = on
	case "net.ipv6.icmp.echo_ignore_all":
		s.noEcho[v6] = on
	}
	if dev, ok := oConfKey(key, "net.ipv4.conf.", ".rp_filter"); ok {
		s.rpFilter[dev], _ = strconv.Atoi(strings.TrimSpace(value))
	}
	if dev, ok := oConfKey(key, "net.ipv6.conf.", ".disable_ipv6"); ok {
		s.v6Off[dev] = on
	}
}

// confKey extracts the device of a per-device key such as
// net.ipv4.conf.eth0.rp_filter.
func oConfKey(key, prefix, suffix string) (string, bool) {
	if !strings.HasPrefix(key, prefix) || !strings.HasSuffix(key, suffix) {
		return "", false
	}
	dev := key[len(prefix) : len(key)-len(suffix)]
	return dev, dev != ""
}

// ipv6Off reports whether IPv6 is disabled on dev. "default" counts,
// since it applies to interfaces created after it is set.
func (s *oStack) ipv6Off(dev string) bool {
	return s.v6Off["all"] || s.v6Off["default"] || s.v6Off[dev]
}

func (s *oStack) oIface(dev string) *oIface {
	for i := range s.ifaces {
		if s.ifaces[i].dev == dev {
			return &s.ifaces[i]
		}
	}
	return nil
}

// isLocal reports whether a is one of the stack's addresses, on any
// interface (Linux's weak host model).
func (s *oStack) isLocal(a netip.Addr) bool { return s.local[a] }

// onLink reports whether a falls in a connected prefix of dev.
func (s *oStack) onLink(dev string, a netip.Addr) bool {
	i := s.oIface(dev)
	if i == nil {
		return false
	}
	for _, p := range i.addrs {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// connectedDev returns the device whose connected route covers a most
// specifically, as the kernel resolves a gateway given without a device.
func (s *oStack) connectedDev(a netip.Addr) string {
	best, bits := "", -1
	for _, r := range s.routes {
		if r.connected && r.dst.Contains(a) && r.dst.Bits() > bits {
			best, bits = r.dev, r.dst.Bits()
		}
	}
	return best
}

// lookup does a longest-prefix match on the routing table. Ties go to
// the lower metric, then to the connected route (the kernel refuses a
// static duplicate of it), then to the first route.
func (s *oStack) lookup(dst netip.Addr) (oRoute, bool) {
	var best oRoute
	found := false
	for _, r := range s.routes {
		if r.dst.Addr().Is4() != dst.Is4() || !r.dst.Contains(dst) {
			continue
		}
		if !found || oBetter(r, best) {
			best, found = r, true
		}
	}
	return best, found
}

func oBetter(a, b oRoute) bool {
	if a.dst.Bits() != b.dst.Bits() {
		return a.dst.Bits() > b.dst.Bits()
	}
	if a.metric != b.metric {
		return a.metric < b.metric
	}
	return a.connected && !b.connected
}

// nextHop returns the neighbour address and the egress device for dst.
func (s *oStack) nextHop(dst netip.Addr) (netip.Addr, string, bool) {
	r, ok := s.lookup(dst)
	if !ok {
		return netip.Addr{}, "", false
	}
	if r.via.IsValid() {
		return r.via, r.dev, true
	}
	return dst, r.dev, true
}

// source picks the source address for a packet leaving through dev
// towards next hop nh: the device's first address of the family whose
// prefix holds nh, else its first address of the family, else the
// stack's first address of the family on any device.
func (s *oStack) source(dev string, nh netip.Addr) netip.Addr {
	if i := s.oIface(dev); i != nil {
		if a := i.source(nh, true); a.IsValid() {
			return a
		}
		if a := i.source(nh, false); a.IsValid() {
			return a
		}
	}
	for _, i := range s.ifaces {
		if a := i.source(nh, false); a.IsValid() {
			return a
		}
	}
	return netip.Addr{}
}

// source returns the first usable address of nh's family, restricted to
// prefixes that hold nh when covering is set.
func (i *oIface) source(nh netip.Addr, covering bool) netip.Addr {
	for _, p := range i.addrs {
		a := p.Addr()
		if a.Is4() != nh.Is4() || !a.IsGlobalUnicast() {
			continue
		}
		if !covering || p.Contains(nh) {
			return a
		}
	}
	return netip.Addr{}
}

// acceptsFrom applies IPv4 reverse-path filtering to a packet from src
// arriving on dev: strict (1) wants the route back to src to leave by
// dev, loose (2) wants any route back.
func (s *oStack) acceptsFrom(dev string, src netip.Addr) bool {
	if !src.Is4() {
		return true
	}
	mode := max(s.rpFilter["all"], s.rpFilter[dev])
	if mode == 0 {
		return true
	}
	_, out, ok := s.nextHop(src)
	if mode == 1 {
		return ok && out == dev
	}
	return ok
}

// world is the routing model of a whole lab.
type oWorld struct {
	stacks map[string]*oStack
	// order is the nodes by name, then the host if it has lab addresses.
	order []*oStack
	segs  []topology.Segment
	// segOf maps an interface to its segment index.
	segOf map[oPort]int
	// hostSegs holds the segments the host has addresses on.
	hostSegs map[int]bool
	// owners maps an address on a segment to the interface holding it.
	owners map[oSegAddr]oPort
}

// segAddr is an address on one segment.
type oSegAddr struct {
	seg  int
	addr netip.Addr
}

// port names an interface: a node (or the host) and a device.
type oPort struct{ node, dev string }

// dest is one address that may be probed.
type oDest struct {
	node, dev string
	addr      netip.Addr
}

func oNewWorld(lab *topology.Lab) *oWorld {
	w := &oWorld{stacks: map[string]*oStack{}, segOf: map[oPort]int{}, hostSegs: map[int]bool{}, owners: map[oSegAddr]oPort{}}
	for _, n := range lab.Nodes {
		w.add(oNewNodeStack(n))
	}
	if host := oNewHostStack(lab); len(host.ifaces) > 0 {
		w.add(host)
	}
	w.segs = lab.Segments()
	for i, s := range w.segs {
		for _, m := range s.Members {
			w.segOf[oPort{m.Node, m.Dev}] = i
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
func (w *oWorld) indexOwners() {
	for _, s := range w.order {
		for _, i := range s.ifaces {
			seg, ok := w.segOf[oPort{s.name, i.dev}]
			if !ok {
				continue
			}
			for _, p := range i.addrs {
				k := oSegAddr{seg, p.Addr()}
				if _, dup := w.owners[k]; !dup {
					w.owners[k] = oPort{s.name, i.dev}
				}
			}
		}
	}
}

func (w *oWorld) add(s *oStack) {
	w.stacks[s.name] = s
	w.order = append(w.order, s)
}

// destinations lists every probeable address once per owner, in lab
// order: nodes by name and their interfaces, then the host's.
func (w *oWorld) destinations() []oDest {
	var out []oDest
	for _, s := range w.order {
		seen := map[netip.Addr]bool{}
		for _, i := range s.ifaces {
			for _, p := range i.addrs {
				a := p.Addr()
				if a.IsGlobalUnicast() && !seen[a] {
					seen[a] = true
					out = append(out, oDest{node: s.name, dev: i.dev, addr: a})
				}
			}
		}
	}
	return out
}

// probe decides whether s must reach d, and how.
func (w *oWorld) probe(s *oStack, d oDest) (Probe, bool) {
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
func (w *oWorld) hostDirect(d oDest) bool {
	i, ok := w.segOf[oPort{d.node, d.dev}]
	return ok && w.hostSegs[i]
}

// walk follows a packet from src to dst that origin sends, hop by hop,
// and returns the stack that accepts it locally and the forwarding nodes
// on the way. It fails on a missing route or neighbour, a node that does
// not forward, reverse-path filtering, or TTL expiry, which also ends
// any routing loop after at most ttl hops.
func (w *oWorld) walk(origin *oStack, src, dst netip.Addr) (*oStack, []string, bool) {
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
func (w *oWorld) forward(cur *oStack, dst netip.Addr) (*oStack, string, bool) {
	nh, dev, ok := cur.nextHop(dst)
	if !ok {
		return nil, "", false
	}
	return w.neighbor(oPort{cur.name, dev}, nh)
}

// neighbor finds who answers for address nh on from's segment.
func (w *oWorld) neighbor(from oPort, nh netip.Addr) (*oStack, string, bool) {
	seg, ok := w.segOf[from]
	if !ok {
		return nil, "", false
	}
	to, ok := w.owners[oSegAddr{seg, nh}]
	if !ok || to == from {
		return nil, "", false
	}
	return w.stacks[to.node], to.dev, true
}
