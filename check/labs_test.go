package check

import (
	"net/netip"
	"sort"
	"strings"

	"github.com/nslab/nslab/topology"
)

// testLab builds topology.Lab literals the way validation would leave
// them (sorted nodes, links set on interfaces), since tests of this
// package must not depend on the parser.
type testLab struct{ lab *topology.Lab }

func newTestLab(name string) *testLab {
	return &testLab{lab: &topology.Lab{Name: name}}
}

func prefixes(addrs []string) []netip.Prefix {
	var out []netip.Prefix
	for _, a := range addrs {
		out = append(out, netip.MustParsePrefix(a))
	}
	return out
}

// node returns the named node, creating it.
func (l *testLab) node(name string) *topology.Node {
	for _, n := range l.lab.Nodes {
		if n.Name == name {
			return n
		}
	}
	n := &topology.Node{Name: name}
	l.lab.Nodes = append(l.lab.Nodes, n)
	sort.Slice(l.lab.Nodes, func(i, j int) bool { return l.lab.Nodes[i].Name < l.lab.Nodes[j].Name })
	return n
}

// ifc adds interface "node:dev" (node may be topology.HostNode).
func (l *testLab) ifc(ref string, addrs ...string) *topology.Interface {
	node, dev, _ := strings.Cut(ref, ":")
	i := &topology.Interface{Node: node, Name: dev, Addresses: prefixes(addrs)}
	if node == topology.HostNode {
		l.lab.Host = append(l.lab.Host, i)
	} else {
		n := l.node(node)
		n.Interfaces = append(n.Interfaces, i)
	}
	return i
}

// bridge adds a bridge with host-side addresses.
func (l *testLab) bridge(name string, addrs ...string) *topology.Bridge {
	b := &topology.Bridge{Name: name, Addresses: prefixes(addrs)}
	l.lab.Bridges = append(l.lab.Bridges, b)
	return b
}

// port plugs a new interface "node:dev" into bridge br.
func (l *testLab) port(ref, br string, addrs ...string) {
	i := l.ifc(ref, addrs...)
	k := &topology.Link{Kind: topology.Port, A: i, Bridge: l.lab.Bridge(br)}
	i.Link = k
	l.lab.Links = append(l.lab.Links, k)
}

// cable joins two existing interfaces with a veth pair.
func (l *testLab) cable(a, b *topology.Interface) {
	if b.Ref() < a.Ref() {
		a, b = b, a
	}
	k := &topology.Link{Kind: topology.Peer, A: a, B: b}
	a.Link, b.Link = k, k
	l.lab.Links = append(l.lab.Links, k)
}

// route adds a static route; to may be "default", via may be empty
// when dev is set.
func (l *testLab) route(node, to, via, dev string) {
	r := topology.Route{Dev: dev}
	if via != "" {
		r.Via = netip.MustParseAddr(via)
	}
	switch {
	case to == "default" && r.Via.Is6():
		r.To = netip.MustParsePrefix("::/0")
	case to == "default":
		r.To = netip.MustParsePrefix("0.0.0.0/0")
	default:
		r.To = netip.MustParsePrefix(to)
	}
	n := l.node(node)
	n.Routes = append(n.Routes, r)
}

func (l *testLab) sysctl(node, key, value string) {
	n := l.node(node)
	n.Sysctls = append(n.Sysctls, topology.Sysctl{Key: key, Value: value})
}

func (l *testLab) router(node string) { l.node(node).Router = true }
