package topology

import (
	"fmt"
	"net"
	"net/netip"
	"sort"
	"time"
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
	// Machines are the hosts a lab across machines spans (hosts:),
	// sorted by name; none for a lab on the machine nslab runs on.
	Machines []*Machine
	// ShareOf is set on a machine's share of a lab across machines
	// (see Share).
	ShareOf *ShareSpec
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
	// PVID is the VLAN of the bridge's own host side (vlan:), 0 for the
	// default; Tagged are the VLANs its trunk (link:) carries tagged.
	PVID   int
	Tagged []int
	// VLANFiltering is set on every bridge of a tree where a VLAN key
	// appears (see bridgevlan.go); VLANPos is where the bridge's own
	// vlan or vlans key is.
	VLANFiltering bool
	VLANPos       Pos
	// Tunnel carries the bridge's segment to other machines, in a share
	// of a lab across machines (see Share); nil otherwise.
	Tunnel *Tunnel
	Pos    Pos
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
	// Host is the machine the file puts the node on (host:), "" when
	// the file leaves it to placement (see Place).
	Host string
	Pos  Pos
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
	// PVID is the VLAN of a bridge port's untagged frames (vlan:), 0 for
	// the bridge's default; Tagged are the VLANs it carries tagged
	// (vlans:), sorted; VLANPos is where vlan (else vlans) is written.
	PVID    int
	Tagged  []int
	VLANPos Pos
	// Kind is what the interface is: KindVeth (the end of a cable, the
	// default) or one of the kinds made inside a node (see kinds.go).
	Kind string
	// Parent is the interface a vlan, macvlan or ipvlan sub-interface
	// rides on, in the same node.
	Parent string
	// VLAN is the tag of a vlan sub-interface (1-4094), Protocol its
	// ethertype: VLAN8021Q or VLAN8021AD.
	VLAN     int
	Protocol string
	// Mode is the mode of a macvlan (bridge, private, vepa, passthru),
	// an ipvlan (l2, l3, l3s) or a bond (active-backup, 802.3ad, ...).
	Mode string
	// Members are the interfaces a bond or a vrf enslaves, in the order
	// written.
	Members []string
	// Bond holds the settings of a bond beyond its mode.
	Bond *BondOpts
	// Table is the routing table of a vrf.
	Table int
	// Master is the bond or vrf the interface is enslaved to, "" if none
	// (set by validation).
	Master string
	// KindPos is where the kind key was written (the interface's name
	// when it has none): the place of the errors about the kind.
	KindPos Pos
}

// BondOpts are the settings of a bond beside its mode.
type BondOpts struct {
	// Miimon is how often the bond checks its members' carrier; 0 turns
	// link monitoring off.
	Miimon time.Duration
	// Primary is the member an active-backup bond prefers.
	Primary string
	// LACPRate is how often an 802.3ad partner is asked for LACPDUs:
	// "slow" (every 30 s) or "fast" (every second).
	LACPRate string
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
	// VRF is the vrf interface whose table holds the route, "" for the
	// main table; Table is that table.
	VRF   string
	Table int
	Pos   Pos
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
// tree of bridges joined by trunks with all their ports, the two ends of
// a point-to-point cable, one VLAN of another segment (the sub-interfaces
// with that tag on its members), or the interface alone of a dummy or a
// vrf. The cables of one bond's members are one segment, the bond its
// member.
type Segment struct {
	// Name is the name of the bridge (the root bridge of a tree of
	// trunks: the one without a link key), "a:x -- b:y" for a cable,
	// "BASE vlan ID" for a VLAN of the segment BASE, "node:if" for a
	// dummy or vrf.
	Name string
	// Bridge is set for a bridge segment and the VLANs on it: the bridge,
	// or the root bridge of a tree of trunks.
	Bridge *Bridge
	// Overlay is set for an overlay segment.
	Overlay *Overlay
	// Over is the name of the segment a VLAN segment is tagged on, VLAN
	// its tag and Protocol its ethertype; "" and 0 for an untagged one.
	Over     string
	VLAN     int
	Protocol string
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
	// Bridge says Dev is a bridge's host side.
	Bridge bool
	// VRF is the vrf the interface is enslaved to (directly, or through
	// the bond it is a member of), or that it is, "" for the main table.
	VRF string
}

// Segments returns the lab's layer-2 segments: bridge segments first, in
// the name order of their root bridges, then point-to-point cables in
// link order, then VLAN segments (by the node and name of their first
// sub-interface), then dummies and vrfs (by node and name), then
// overlays by name (members by node). The members
// of a bridge segment are the host sides of its bridges with addresses
// (root first, then by bridge name), then its ports in link order. The
// members of a bond are not on any segment: the bond is, on the segment
// of its members' cables (which it joins into one).
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
		if len(b.Addresses) > 0 && PortPVID(b.PVID) == DefaultVLAN {
			s := &segs[index[root[b]]]
			s.Members = append(s.Members, Member{Node: HostNode, Dev: b.Name, Addresses: b.Addresses, Bridge: true})
		}
	}
	// segOf is the segment of each interface that is on one.
	segOf := map[*Interface]int{}
	for _, k := range l.Links {
		switch k.Kind {
		case Port:
			if i, ok := index[root[k.Bridge]]; ok { // a bridge of the lab
				segOf[k.A] = i
			}
		case Peer:
			segOf[k.A], segOf[k.B] = len(segs), len(segs)
			segs = append(segs, Segment{Name: k.String()})
		}
	}
	segs = l.joinBonds(segs, segOf)
	// VLANs of bridge trees: access ports and bridges' host sides in a
	// VLAN other than the default, and the vlan sub-interfaces below.
	vlans := map[string]int{} // "segment index/protocol/id" -> segment
	vlanSeg := func(ps int, id int) int {
		key := fmt.Sprintf("%d/%s/%d", ps, VLAN8021Q, id)
		if v, ok := vlans[key]; ok {
			return v
		}
		base := segs[ps]
		vlans[key] = len(segs)
		segs = append(segs, Segment{Name: VLANName(base.Name, id), Bridge: base.Bridge, Over: base.Name, VLAN: id, Protocol: VLAN8021Q})
		return len(segs) - 1
	}
	for _, b := range l.bridgesRootFirst(root) {
		if pvid := PortPVID(b.PVID); pvid != DefaultVLAN {
			v := vlanSeg(index[root[b]], pvid)
			if len(b.Addresses) > 0 {
				segs[v].Members = append(segs[v].Members, Member{Node: HostNode, Dev: b.Name, Addresses: b.Addresses, Bridge: true})
			}
		}
	}
	untagged := map[*Interface]int{} // access ports: the tree's segment, for the tags they carry
	for _, k := range l.Links {
		if pvid := PortPVID(k.A.PVIDOf()); k.Kind == Port && pvid != DefaultVLAN {
			if ps, ok := segOf[k.A]; ok {
				untagged[k.A] = ps
				segOf[k.A] = vlanSeg(ps, pvid)
			}
		}
	}
	add := func(i *Interface) {
		if si, ok := segOf[i]; ok {
			segs[si].Members = append(segs[si].Members, l.member(i))
		}
	}
	for _, k := range l.Links {
		for _, i := range []*Interface{k.A, k.B} {
			if i != nil && k.Kind != Trunk && !l.bondMember(i) {
				add(i)
			}
		}
	}
	// Sub-interfaces and bonds, parents first.
	var visit func(n *Node, i *Interface, depth int) (int, bool)
	visit = func(n *Node, i *Interface, depth int) (int, bool) {
		if s, ok := segOf[i]; ok || depth > len(n.Interfaces) {
			return s, ok
		}
		var s int
		switch i.Kind {
		case KindBond:
			found := false
			for _, m := range i.Members {
				if mi := n.Interface(m); mi != nil {
					if s, found = segOf[mi]; found {
						break
					}
				}
			}
			if !found {
				return 0, false
			}
		case KindVLAN, KindMacvlan, KindIPvlan:
			p := n.Interface(i.Parent)
			if p == nil || p == i {
				return 0, false
			}
			ps, ok := visit(n, p, depth+1)
			if !ok {
				return 0, false
			}
			if u, ok := untagged[p]; ok && i.Kind == KindVLAN {
				ps = u // a tag on an access port is a tag on the bridge tree
			}
			s = ps
			if i.Kind == KindVLAN {
				key := fmt.Sprintf("%d/%s/%d", ps, i.Protocol, i.VLAN)
				v, ok := vlans[key]
				if !ok {
					base := segs[ps]
					name := fmt.Sprintf("%s vlan %d", base.Name, i.VLAN)
					if i.Protocol == VLAN8021AD {
						name = fmt.Sprintf("%s vlan %d (802.1ad)", base.Name, i.VLAN)
					}
					v = len(segs)
					vlans[key] = v
					segs = append(segs, Segment{Name: name, Bridge: base.Bridge, Over: base.Name, VLAN: i.VLAN, Protocol: i.Protocol})
				}
				s = v
			}
		case KindDummy, KindVRF:
			s = len(segs)
			segs = append(segs, Segment{Name: i.Ref()})
		default:
			return 0, false
		}
		segOf[i] = s
		add(i)
		return s, true
	}
	for _, n := range l.Nodes {
		for _, i := range n.Interfaces {
			if i.Kind != "" && i.Kind != KindVeth {
				visit(n, i, 0)
			}
		}
	}
	for _, o := range l.Overlays {
		s := Segment{Name: o.Name, Overlay: o}
		for _, i := range l.OverlayMembers(o) {
			s.Members = append(s.Members, l.member(i))
		}
		segs = append(segs, s)
	}
	return segs
}

// joinBonds makes the segments of one bond's members one segment, named
// after the first of them, and points segOf at it.
func (l *Lab) joinBonds(segs []Segment, segOf map[*Interface]int) []Segment {
	parent := make([]int, len(segs))
	for i := range parent {
		parent[i] = i
	}
	find := func(i int) int {
		for parent[i] != i {
			parent[i] = parent[parent[i]]
			i = parent[i]
		}
		return i
	}
	joined := false
	for _, n := range l.Nodes {
		for _, b := range n.Interfaces {
			if b.Kind != KindBond {
				continue
			}
			first := -1
			for _, m := range b.Members {
				mi := n.Interface(m)
				s, ok := segOf[mi]
				if mi == nil || !ok {
					continue
				}
				if first < 0 {
					first = find(s)
				} else if r := find(s); r != first {
					parent[max(r, first)] = min(r, first)
					first = min(r, first)
					joined = true
				}
			}
		}
	}
	if !joined {
		return segs
	}
	var out []Segment
	renum := map[int]int{}
	for i, s := range segs {
		if find(i) == i {
			renum[i] = len(out)
			out = append(out, s)
		}
	}
	for i := range segs {
		if r := find(i); r != i {
			out[renum[r]].Members = append(out[renum[r]].Members, segs[i].Members...)
		}
	}
	for i, s := range segOf {
		segOf[i] = renum[find(s)]
	}
	return out
}

// bondMember reports whether i is enslaved to a bond.
func (l *Lab) bondMember(i *Interface) bool {
	if i.Master == "" || i.OnHost() {
		return false
	}
	n := l.Node(i.Node)
	m := n.Interface(i.Master)
	return m != nil && m.Kind == KindBond
}

// member is i as a member of its segment, with its vrf.
func (l *Lab) member(i *Interface) Member {
	m := Member{Node: i.Node, Dev: i.Name, Addresses: i.Addresses}
	if i.OnHost() {
		return m
	}
	if i.Kind == KindVRF {
		m.VRF = i.Name // the vrf's own addresses are in its table
		return m
	}
	n := l.Node(i.Node)
	for x, hop := i, 0; x != nil && x.Master != "" && hop < 2; hop++ {
		up := n.Interface(x.Master)
		if up != nil && up.Kind == KindVRF {
			m.VRF = up.Name
			break
		}
		x = up
	}
	return m
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
