package gen

import "net/netip"

// lab is a generated lab, in the order the file lists it.
type lab struct {
	name    string
	about   string // what the lab is, for the header comment
	bridges []bridge
	nodes   []node
}

type bridge struct {
	name  string
	link  string // the bridge its trunk goes to
	addrs []netip.Prefix
}

type node struct {
	name   string
	router bool
	ifaces []iface
	routes []route
}

type iface struct {
	name  string
	link  string // BRIDGE or NODE:IFNAME; empty for the far end of a cable
	addrs []netip.Prefix
}

// route is a static route; an invalid to is the default route of the
// family of via.
type route struct {
	to  netip.Prefix
	via netip.Addr
}

// family holds a value of each address family; IPv6 ones are invalid in
// an IPv4-only lab.
type family[T interface{ IsValid() bool }] struct{ v4, v6 T }

// list returns the valid values, IPv4 first.
func (f family[T]) list() []T {
	out := make([]T, 0, 2)
	for _, x := range []T{f.v4, f.v6} {
		if x.IsValid() {
			out = append(out, x)
		}
	}
	return out
}

// routesTo returns a route to each family of dst via the gateway of the
// same family; an invalid dst is the default route.
func routesTo(dst family[netip.Prefix], via family[netip.Addr]) []route {
	out := make([]route, 0, 2)
	if via.v4.IsValid() {
		out = append(out, route{dst.v4, via.v4})
	}
	if via.v6.IsValid() {
		out = append(out, route{dst.v6, via.v6})
	}
	return out
}

// defaults returns default routes via the gateways.
func defaults(via family[netip.Addr]) []route {
	return routesTo(family[netip.Prefix]{}, via)
}

// addrsOf returns the addresses of a pair of prefixes.
func addrsOf(p family[netip.Prefix]) family[netip.Addr] {
	return family[netip.Addr]{p.v4.Addr(), addrOrZero(p.v6)}
}

func addrOrZero(p netip.Prefix) netip.Addr {
	if !p.IsValid() {
		return netip.Addr{}
	}
	return p.Addr()
}

// host returns a host node with one interface, eth0, plugged into bridge
// br, and default routes via gw.
func host(name, br string, addrs family[netip.Prefix], gw family[netip.Addr]) node {
	return node{
		name:   name,
		ifaces: []iface{{name: "eth0", link: br, addrs: addrs.list()}},
		routes: defaults(gw),
	}
}

// cable returns the two ends of a point-to-point cable between nodes a
// and b, named after each other ("to-b" in a, "to-a" in b); the end in a
// declares the link.
func cable(a, b string, aAddrs, bAddrs family[netip.Prefix]) (iface, iface) {
	return iface{name: "to-" + b, link: b + ":to-" + a, addrs: aAddrs.list()},
		iface{name: "to-" + a, addrs: bAddrs.list()}
}

// masked returns the subnets of a pair of interface addresses.
func masked(p family[netip.Prefix]) family[netip.Prefix] {
	m := family[netip.Prefix]{v4: p.v4.Masked()}
	if p.v6.IsValid() {
		m.v6 = p.v6.Masked()
	}
	return m
}

// nths returns address n of each subnet.
func nths(p family[netip.Prefix], n int) family[netip.Prefix] {
	f := family[netip.Prefix]{v4: nth(p.v4, n)}
	if p.v6.IsValid() {
		f.v6 = nth(p.v6, n)
	}
	return f
}
