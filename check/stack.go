package check

import (
	"net/netip"
	"slices"
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
	id     int32 // index in world.stacks
	name   string
	ifaces []iface
	// routes are the table entries in the order they were added, until
	// finish sorts them into tables by family for lookups.
	routes []route
	tables [2]table
	fwd    [2]bool // forwarding, by family
	noEcho [2]bool // icmp echo_ignore_all, by family
	// rpFilter holds IPv4 rp_filter values by device ("all" included).
	rpFilter map[string]int
	// v6Off lists devices ("all", "default" included) with IPv6 disabled.
	v6Off map[string]bool
}

func newStack(name string) *stack { return &stack{name: name} }

// iface is an addressed interface of a stack.
type iface struct {
	dev   string
	addrs []netip.Prefix
	// held lists, for each address, every interface of the lab holding
	// it (set by the world).
	held [][]holder
	// seg is the layer-2 segment the interface is on, or -1.
	seg int32
	// rp is the effective IPv4 rp_filter mode of the interface.
	rp int
}

// route is one entry of a stack's main routing table.
type route struct {
	dst  netip.Prefix
	key  key        // dst's address as a number, set by newTable
	via  netip.Addr // zero for a connected or device route
	viaH []holder   // the interfaces holding via (set by the world)
	dev  string
	ifc  int32 // index of dev in the stack's ifaces
	// metric orders routes to the same prefix; connected wins a tie.
	metric    int
	connected bool
}

// newNodeStack models a node: its interfaces, connected and static
// routes, and the sysctls that matter to reachability.
func newNodeStack(n *topology.Node) *stack {
	s := newStack(n.Name)
	nAddrs := 0
	for _, i := range n.Interfaces {
		nAddrs += len(i.Addresses)
	}
	s.ifaces = make([]iface, 0, len(n.Interfaces))
	s.routes = make([]route, 0, nAddrs+len(n.Routes))
	for _, sc := range n.Sysctls {
		s.applySysctl(sc.Key, sc.Value)
	}
	if n.Router {
		s.fwd = [2]bool{true, true}
	}
	for _, i := range n.Interfaces {
		s.addIface(i.Name, i.Addresses)
	}
	conn := s.connectedTables(len(n.Routes))
	for _, r := range n.Routes {
		if rt, ok := s.staticRoute(r, conn); ok {
			s.routes = append(s.routes, rt)
		}
	}
	s.finish()
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
	s.finish()
	return s
}

// finish resolves devices to interface indexes and builds the lookup
// tables, once every interface and route is known.
func (s *stack) finish() {
	all := s.rpFilter["all"]
	for i := range s.ifaces {
		s.ifaces[i].seg = -1
		s.ifaces[i].rp = max(all, s.rpFilter[s.ifaces[i].dev])
	}
	for i := range s.routes {
		s.routes[i].ifc = int32(s.ifaceIndex(s.routes[i].dev))
	}
	s.tables = buildTables(s.routes)
	s.routes = nil
}

// addIface records an interface's usable addresses and their connected
// routes.
func (s *stack) addIface(dev string, addrs []netip.Prefix) {
	keep := addrs // the model's slice, unless some must go or change
	if slices.ContainsFunc(addrs, func(p netip.Prefix) bool { return !s.usable(dev, p) || p.Addr().Is4In6() }) {
		keep = nil
		for _, p := range addrs {
			if s.usable(dev, p) {
				keep = append(keep, netip.PrefixFrom(p.Addr().Unmap(), p.Bits()))
			}
		}
	}
	for _, p := range keep {
		s.routes = append(s.routes, connectedRoute(p, dev))
	}
	if len(keep) > 0 {
		s.ifaces = append(s.ifaces, iface{dev: dev, addrs: keep})
	}
}

// usable reports whether address p of dev counts: it is valid, and not
// IPv6 on a device where IPv6 is off.
func (s *stack) usable(dev string, p netip.Prefix) bool {
	return p.IsValid() && !(p.Addr().Is6() && s.ipv6Off(dev))
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
// conn holds the connected routes, if indexed.
func (s *stack) staticRoute(r topology.Route, conn *[2]table) (route, bool) {
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
		rt.dev = s.connectedDev(r.Via, conn)
		return rt, rt.dev != ""
	}
	return rt, s.iface(rt.dev) != nil && (r.Via.IsLinkLocalUnicast() || s.onLink(rt.dev, r.Via))
}

// connectedTables indexes the connected routes, which are all the
// routes so far, when there are many static routes to resolve against
// them; nil means scanning is cheaper.
func (s *stack) connectedTables(static int) *[2]table {
	if static <= 8 {
		return nil
	}
	t := buildTables(slices.Clone(s.routes))
	return &t
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
		if s.rpFilter == nil {
			s.rpFilter = map[string]int{}
		}
		s.rpFilter[dev], _ = strconv.Atoi(strings.TrimSpace(value))
	}
	if dev, ok := confKey(key, "net.ipv6.conf.", ".disable_ipv6"); ok {
		if s.v6Off == nil {
			s.v6Off = map[string]bool{}
		}
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
	if i := s.ifaceIndex(dev); i >= 0 {
		return &s.ifaces[i]
	}
	return nil
}

func (s *stack) ifaceIndex(dev string) int {
	for i := range s.ifaces {
		if s.ifaces[i].dev == dev {
			return i
		}
	}
	return -1
}

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
// specifically, as the kernel resolves a gateway given without a device:
// the first of the most specific ones.
func (s *stack) connectedDev(a netip.Addr, conn *[2]table) string {
	if conn != nil {
		if r, ok := conn[family(a)].lookup(a); ok {
			return r.dev
		}
		return ""
	}
	best, bits := "", -1
	for _, r := range s.routes {
		if r.connected && r.dst.Contains(a) && r.dst.Bits() > bits {
			best, bits = r.dev, r.dst.Bits()
		}
	}
	return best
}

// lookup does a longest-prefix match on the routing table, in
// O(prefix lengths × log routes). Ties go to the lower metric, then to
// the connected route (the kernel refuses a static duplicate of it),
// then to the first route.
func (s *stack) lookup(dst netip.Addr) (*route, bool) {
	return s.tables[family(dst)].lookup(dst)
}

// holds reports whether the stack has address a, on any interface
// (Linux's weak host model).
func (s *stack) holds(a addrRef) bool {
	for _, h := range a.held {
		if h.stack == s.id {
			return true
		}
	}
	return false
}

// source picks the source address for a packet leaving through
// interface ifc towards next hop nh: the interface's first address of
// the family whose prefix holds nh, else its first address of the
// family, else the stack's first address of the family on any
// interface. It returns the address's interface and index there.
func (s *stack) source(ifc int32, nh netip.Addr) (int32, int32, bool) {
	if ifc >= 0 {
		i := &s.ifaces[ifc]
		if a := i.source(nh, true); a >= 0 {
			return ifc, a, true
		}
		if a := i.source(nh, false); a >= 0 {
			return ifc, a, true
		}
	}
	for k := range s.ifaces {
		if a := s.ifaces[k].source(nh, false); a >= 0 {
			return int32(k), a, true
		}
	}
	return -1, -1, false
}

// source returns the index of the first usable address of nh's family,
// restricted to prefixes that hold nh when covering is set, or -1.
func (i *iface) source(nh netip.Addr, covering bool) int32 {
	for k, p := range i.addrs {
		a := p.Addr()
		if a.Is4() != nh.Is4() || !a.IsGlobalUnicast() {
			continue
		}
		if !covering || p.Contains(nh) {
			return int32(k)
		}
	}
	return -1
}

// ref returns the address at index k of interface ifc with its holders.
func (s *stack) ref(ifc, k int32) addrRef {
	i := &s.ifaces[ifc]
	return addrRef{addr: i.addrs[k].Addr(), held: i.held[k]}
}

// acceptsFrom applies IPv4 reverse-path filtering to a packet from src
// arriving on interface in: strict (1) wants the route back to src to
// leave by in, loose (2) wants any route back.
func (s *stack) acceptsFrom(in int32, src netip.Addr) bool {
	if !src.Is4() {
		return true
	}
	mode := s.ifaces[in].rp
	if mode == 0 {
		return true
	}
	r, ok := s.lookup(src)
	if mode == 1 {
		return ok && r.ifc == in
	}
	return ok
}
