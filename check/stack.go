package check

import (
	"net/netip"
	"strconv"
	"strings"

	"github.com/nslab/nslab/topology"
)

// Family indexes for per-family settings.
const (
	v4 = 0
	v6 = 1
)

func family(a netip.Addr) int {
	if a.Is4() {
		return v4
	}
	return v6
}

// ttl is the initial TTL / hop limit of a locally originated packet.
const ttl = 64

// Linux route metrics given to routes without an explicit metric.
const (
	metricConnected6 = 256
	metricStatic6    = 1024
)

// stack is the model of one network namespace's IP layer: its addresses,
// its routing table and the sysctls that change forwarding decisions.
type stack struct {
	name   string
	ifaces []iface
	routes []route
	fwd    [2]bool // forwarding, by family
	noEcho [2]bool // icmp echo_ignore_all, by family
	// rpFilter holds IPv4 rp_filter values by device ("all" included).
	rpFilter map[string]int
	// v6Off lists devices ("all", "default" included) with IPv6 disabled.
	v6Off map[string]bool
	local map[netip.Addr]bool
}

func newStack(name string) *stack {
	return &stack{name: name, rpFilter: map[string]int{}, v6Off: map[string]bool{}, local: map[netip.Addr]bool{}}
}

// iface is an addressed interface of a stack.
type iface struct {
	dev   string
	addrs []netip.Prefix
}

// route is one entry of a stack's main routing table.
type route struct {
	dst       netip.Prefix
	via       netip.Addr // zero for a connected or device route
	dev       string
	metric    int
	connected bool
}

// newNodeStack models a node: its interfaces, connected and static
// routes, and the sysctls that matter to reachability.
func newNodeStack(n *topology.Node) *stack {
	s := newStack(n.Name)
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
func newHostStack(lab *topology.Lab) *stack {
	s := newStack(topology.HostNode)
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
func (s *stack) addIface(dev string, addrs []netip.Prefix) {
	var keep []netip.Prefix
	for _, p := range addrs {
		if !p.IsValid() || (p.Addr().Is6() && s.ipv6Off(dev)) {
			continue
		}
		p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits())
		keep = append(keep, p)
		s.local[p.Addr()] = true
		s.routes = append(s.routes, connectedRoute(p, dev))
	}
	if len(keep) > 0 {
		s.ifaces = append(s.ifaces, iface{dev: dev, addrs: keep})
	}
}

func connectedRoute(p netip.Prefix, dev string) route {
	r := route{dst: p.Masked(), dev: dev, connected: true}
	if p.Addr().Is6() {
		r.metric = metricConnected6
	}
	return r
}

// staticRoute turns a model route into a table entry, or reports false
// when the kernel would refuse it (gateway not on link, unknown device).
func (s *stack) staticRoute(r topology.Route) (route, bool) {
	if !r.To.IsValid() {
		return route{}, false
	}
	rt := route{dst: r.To.Masked(), via: r.Via, dev: r.Dev, metric: r.Metric}
	if rt.metric == 0 && r.To.Addr().Is6() {
		rt.metric = metricStatic6
	}
	if !r.Via.IsValid() {
		return rt, r.Dev != "" && s.iface(r.Dev) != nil
	}
	if r.Via.Is4() != r.To.Addr().Is4() {
		return route{}, false
	}
	if rt.dev == "" {
		rt.dev = s.connectedDev(r.Via)
		return rt, rt.dev != ""
	}
	return rt, s.iface(rt.dev) != nil && (r.Via.IsLinkLocalUnicast() || s.onLink(rt.dev, r.Via))
}

// applySysctl records the settings that change reachability. Keys may
// use dots or slashes.
func (s *stack) applySysctl(key, value string) {
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
	if dev, ok := confKey(key, "net.ipv4.conf.", ".rp_filter"); ok {
		s.rpFilter[dev], _ = strconv.Atoi(strings.TrimSpace(value))
	}
	if dev, ok := confKey(key, "net.ipv6.conf.", ".disable_ipv6"); ok {
		s.v6Off[dev] = on
	}
}

// confKey extracts the device of a per-device key such as
// net.ipv4.conf.eth0.rp_filter.
func confKey(key, prefix, suffix string) (string, bool) {
	if !strings.HasPrefix(key, prefix) || !strings.HasSuffix(key, suffix) {
		return "", false
	}
	dev := key[len(prefix) : len(key)-len(suffix)]
	return dev, dev != ""
}

// ipv6Off reports whether IPv6 is disabled on dev. "default" counts,
// since it applies to interfaces created after it is set.
func (s *stack) ipv6Off(dev string) bool {
	return s.v6Off["all"] || s.v6Off["default"] || s.v6Off[dev]
}

func (s *stack) iface(dev string) *iface {
	for i := range s.ifaces {
		if s.ifaces[i].dev == dev {
			return &s.ifaces[i]
		}
	}
	return nil
}

// isLocal reports whether a is one of the stack's addresses, on any
// interface (Linux's weak host model).
func (s *stack) isLocal(a netip.Addr) bool { return s.local[a] }

// onLink reports whether a falls in a connected prefix of dev.
func (s *stack) onLink(dev string, a netip.Addr) bool {
	i := s.iface(dev)
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
func (s *stack) connectedDev(a netip.Addr) string {
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
func (s *stack) lookup(dst netip.Addr) (route, bool) {
	var best route
	found := false
	for _, r := range s.routes {
		if r.dst.Addr().Is4() != dst.Is4() || !r.dst.Contains(dst) {
			continue
		}
		if !found || better(r, best) {
			best, found = r, true
		}
	}
	return best, found
}

func better(a, b route) bool {
	if a.dst.Bits() != b.dst.Bits() {
		return a.dst.Bits() > b.dst.Bits()
	}
	if a.metric != b.metric {
		return a.metric < b.metric
	}
	return a.connected && !b.connected
}

// nextHop returns the neighbour address and the egress device for dst.
func (s *stack) nextHop(dst netip.Addr) (netip.Addr, string, bool) {
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
func (s *stack) source(dev string, nh netip.Addr) netip.Addr {
	if i := s.iface(dev); i != nil {
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
func (i *iface) source(nh netip.Addr, covering bool) netip.Addr {
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
func (s *stack) acceptsFrom(dev string, src netip.Addr) bool {
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
