package topology

import (
	"fmt"
	"net"
	"net/netip"
	"sort"
)

// Pos is a position in a topology file: 1-based line and column.
type Pos struct {
	File string
	Line int
	Col  int
}

func (p Pos) String() string {
	if p.Line == 0 {
		return p.File
	}
	return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Col)
}

// HostNode is the reserved node name that stands for the root network
// namespace in references such as "host:uplink".
const HostNode = "host"

// Lab is a validated topology: the desired state of one lab.
// Slices are sorted by name so that everything derived from a Lab is
// deterministic.
type Lab struct {
	Name string
	File string
	// Source is the text the lab was parsed from: what nslab keeps as the
	// running lab's file (lab.Up saves it).
	Source  []byte
	Bridges []*Bridge
	// Overlays are the VXLAN segments carried between nodes over the
	// lab's own cables, sorted by name.
	Overlays []*Overlay
	Nodes    []*Node
	// Host holds the interfaces that live in the root namespace at the
	// host end of a node–host cable. Their Node field is HostNode.
	Host []*Interface
	// Links holds every cable of the lab, derived from the link keys of
	// interfaces and bridges: one entry per veth pair. Peer and Port
	// links come first, sorted by the Ref of their A end (then Peer
	// before Port); Trunk links follow, sorted by the name of the bridge
	// that declares them.
	Links []*Link
	// Pool is where segments without subnets of their own get theirs
	// (addressing.pool): one prefix per family at most.
	Pool []netip.Prefix
	// Routing is RoutingStatic or RoutingAuto.
	Routing string
}

// Bridge is a Linux bridge in the root namespace.
type Bridge struct {
	Name string
	// Subnets are the segment's subnets that nslab assigns addresses
	// from (one per family at most), as written or taken from the pool.
	Subnets []netip.Prefix
	// Gateway gives the bridge's host side the first address of each
	// subnet: the nodes' gateway on the host.
	Gateway bool
	// NAT masquerades the segment's IPv4 traffic that leaves the lab
	// through the host; NAT6 its IPv6 traffic too.
	NAT, NAT6 bool
	// Addresses are assigned to the bridge itself, on the host side.
	Addresses []netip.Prefix
	// Auto are the addresses among Addresses that nslab chose.
	Auto []netip.Prefix
	MTU  int
	// Taps are the bridge's tap devices, by name.
	Taps []*Tap
	Pos  Pos
}

// Node is a network namespace.
type Node struct {
	Name       string
	Interfaces []*Interface
	Routes     []Route
	Sysctls    []Sysctl
	// Publish forwards host ports to the node's ports.
	Publish []Publish
	// Router turns on IPv4 and IPv6 forwarding.
	Router bool
	// Hostname is the node's hostname as the file gives it; "" means the
	// node's name (see HostnameOf).
	Hostname string
	// Services are the programs the node runs, sorted by name.
	Services []*Service
	Pos      Pos
}

// HostnameOf is the hostname the node answers to: Hostname, or its name.
func (n *Node) HostnameOf() string {
	if n.Hostname != "" {
		return n.Hostname
	}
	return n.Name
}

// Interface is one end of a veth pair, inside a node or on the host.
type Interface struct {
	// Node is the owning node's name, or HostNode.
	Node      string
	Name      string
	Addresses []netip.Prefix
	// Auto are the addresses among Addresses that nslab chose from the
	// subnets of the interface's segment.
	Auto []netip.Prefix
	// Subnets are the subnets of a cable's segment, on both its ends, as
	// written or taken from the pool; a bridge's are on the bridge.
	Subnets []netip.Prefix
	MTU     int
	MAC     net.HardwareAddr
	// Shape shapes the interface's cable, both ways; at most one end of a
	// cable has one.
	Shape *Shape
	Pos   Pos
	// Link is the cable this interface is one end of (set by validation);
	// nil for an overlay's interface, which is no cable.
	Link *Link
	// Overlay is the VXLAN segment the interface is a tunnel end of, or
	// nil; then Underlay names the interface of the same node its tunnel
	// runs over (see OverlayEnd).
	Overlay  *Overlay
	Underlay string
}

// Ref returns the interface as "node:name".
func (i *Interface) Ref() string { return i.Node + ":" + i.Name }

// OnHost reports whether the interface lives in the root namespace.
func (i *Interface) OnHost() bool { return i.Node == HostNode }

// LinkKind says what the far end of a veth pair is.
type LinkKind int

const (
	// Peer joins two interfaces (node–node or node–host).
	Peer LinkKind = iota
	// Port joins an interface to a bridge: the other veth end is a
	// bridge port in the root namespace.
	Port
	// Trunk joins two bridges into one layer-2 segment: both veth ends
	// are bridge ports in the root namespace.
	Trunk
)

// Shape is how the cable is shaped (written on either end), or nil.
// Shapes lists the shapes written on the cable's ends: none, one, or
// two one-way shapes.
func (l *Link) Shapes() []*Shape {
	var out []*Shape
	for _, i := range []*Interface{l.A, l.B} {
		if i != nil && i.Shape != nil {
			out = append(out, i.Shape)
		}
	}
	return out
}

func (l *Link) Shape() *Shape {
	for _, i := range []*Interface{l.A, l.B} {
		if i != nil && i.Shape != nil {
			return i.Shape
		}
	}
	return nil
}

// Link is one veth pair.
type Link struct {
	Kind LinkKind
	// A is set for Peer and Port links. For Peer links, A sorts before B
	// by Ref.
	A *Interface
	// B is the far interface of a Peer link.
	B *Interface
	// Bridge is the bridge of a Port link, or the bridge whose `link`
	// key declares a Trunk.
	Bridge *Bridge
	// Uplink is the other bridge of a Trunk.
	Uplink *Bridge
	// Pos is where the link key was written.
	Pos Pos
}

// String names the link the way the file references it.
func (l *Link) String() string {
	switch l.Kind {
	case Port:
		return l.A.Ref() + " -- " + l.Bridge.Name
	case Trunk:
		return l.Bridge.Name + " -- " + l.Uplink.Name
	}
	return l.A.Ref() + " -- " + l.B.Ref()
}

// Route is a static route in a node.
type Route struct {
	// To is the destination; "default" is 0.0.0.0/0 or ::/0, chosen by
	// the family of Via.
	To netip.Prefix
	// Via is the gateway; zero for a device route.
	Via netip.Addr
	// Dev is the outgoing interface; empty lets the kernel choose by Via.
	Dev    string
	Metric int
	// Auto says nslab computed the route (routing: auto).
	Auto bool
	Pos  Pos
}

// Sysctl is one per-namespace kernel setting, such as
// net.ipv4.ip_forward=1.
type Sysctl struct {
	Key   string
	Value string
	Pos   Pos
}

// Node returns the node with the given name, or nil.
func (l *Lab) Node(name string) *Node {
	i := sort.Search(len(l.Nodes), func(i int) bool { return l.Nodes[i].Name >= name })
	if i < len(l.Nodes) && l.Nodes[i].Name == name {
		return l.Nodes[i]
	}
	return nil
}

// Bridge returns the bridge with the given name, or nil.
func (l *Lab) Bridge(name string) *Bridge {
	for _, b := range l.Bridges {
		if b.Name == name {
			return b
		}
	}
	return nil
}

// Interface returns the named interface of a node, or nil.
func (n *Node) Interface(name string) *Interface {
	for _, i := range n.Interfaces {
		if i.Name == name {
			return i
		}
	}
	return nil
}

// Ports returns the Port links of a bridge, in link order.
func (l *Lab) Ports(b *Bridge) []*Link {
	var out []*Link
	for _, k := range l.Links {
		if k.Kind == Port && k.Bridge == b {
			out = append(out, k)
		}
	}
	return out
}

// Segment is one layer-2 broadcast domain: a bridge with its ports, a
// tree of bridges joined by trunks with all their ports, or the two ends
// of a point-to-point cable.
type Segment struct {
	// Name is the name of the bridge (the root bridge of a tree of
	// trunks: the one without a link key), or "a:x -- b:y" for a cable.
	Name string
	// Bridge is set for a bridge segment: the bridge, or the root bridge
	// of a tree of trunks.
	Bridge *Bridge
	// Overlay is set for an overlay segment.
	Overlay *Overlay
	// Members are the addressed endpoints on the segment.
	Members []Member
}

// Member is one place on a segment that can hold addresses: a node's
// interface, a host-side interface, or a bridge's own host side.
type Member struct {
	// Node is the node name, or HostNode for the root namespace.
	Node string
	// Dev is the interface name inside Node (the bridge name for the
	// bridge's own host side).
	Dev       string
	Addresses []netip.Prefix
}

// Segments returns the lab's layer-2 segments: bridge segments first, in
// the name order of their root bridges, then point-to-point cables in
// link order, then overlays by name (members by node). The members of a bridge segment are the host sides of its
// bridges with addresses (root first, then by bridge name), then its
// ports in link order.
func (l *Lab) Segments() []Segment {
	root := l.bridgeRoots()
	index := map[*Bridge]int{}
	var segs []Segment
	for _, b := range l.Bridges {
		if root[b] == b {
			index[b] = len(segs)
			segs = append(segs, Segment{Name: b.Name, Bridge: b})
		}
	}
	for _, b := range l.bridgesRootFirst(root) {
		if len(b.Addresses) > 0 {
			s := &segs[index[root[b]]]
			s.Members = append(s.Members, Member{Node: HostNode, Dev: b.Name, Addresses: b.Addresses})
		}
	}
	for _, k := range l.Links {
		switch k.Kind {
		case Port:
			if i, ok := index[root[k.Bridge]]; ok { // a bridge of the lab
				segs[i].Members = append(segs[i].Members, member(k.A))
			}
		case Peer:
			segs = append(segs, Segment{Name: k.String(), Members: []Member{member(k.A), member(k.B)}})
		}
	}
	for _, o := range l.Overlays {
		s := Segment{Name: o.Name, Overlay: o}
		for _, i := range l.OverlayMembers(o) {
			s.Members = append(s.Members, member(i))
		}
		segs = append(segs, s)
	}
	return segs
}

// bridgesRootFirst returns the root bridges, then the others, each in
// name order.
func (l *Lab) bridgesRootFirst(root map[*Bridge]*Bridge) []*Bridge {
	out := make([]*Bridge, 0, len(l.Bridges))
	for _, b := range l.Bridges {
		if root[b] == b {
			out = append(out, b)
		}
	}
	for _, b := range l.Bridges {
		if root[b] != b {
			out = append(out, b)
		}
	}
	return out
}

// bridgeRoots maps each bridge to the root of its tree of trunks: the
// bridge without a link key. It is a union-find in which the bridge that
// declares a trunk joins the tree of its uplink, so the root of each tree
// is the one bridge that declares none. (A loop, which validation
// rejects, keeps one of its bridges as the root.)
func (l *Lab) bridgeRoots() map[*Bridge]*Bridge {
	parent := make(map[*Bridge]*Bridge, len(l.Bridges))
	for _, b := range l.Bridges {
		parent[b] = b
	}
	find := func(b *Bridge) *Bridge {
		for parent[b] != b {
			parent[b] = parent[parent[b]]
			b = parent[b]
		}
		return b
	}
	for _, k := range l.Links {
		if k.Kind != Trunk || parent[k.Bridge] == nil || parent[k.Uplink] == nil {
			continue
		}
		if a, u := find(k.Bridge), find(k.Uplink); a != u {
			parent[a] = u
		}
	}
	for _, b := range l.Bridges {
		parent[b] = find(b)
	}
	return parent
}

func member(i *Interface) Member {
	return Member{Node: i.Node, Dev: i.Name, Addresses: i.Addresses}
}
