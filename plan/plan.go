package plan

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"sort"
	"strings"

	"github.com/nslab/nslab/kernel"
	"github.com/nslab/nslab/topology"
)

// Plan is an ordered list of stages. The operations of one stage are
// independent of each other and may run in parallel; a stage starts when
// the one before it has finished.
type Plan struct {
	Lab    string
	Stages []Stage
	// Made is the part of the lab that the plan makes, as a lab of its
	// own: all of it for Up, what is new or made anew for Reconcile.
	Made *topology.Lab
}

// Stage is a set of independent operations.
type Stage struct {
	Name string
	Ops  []kernel.Op
	// AfterLinksUp says the stage needs every link up first: IPv6 installs
	// a link's subnet route only once the link has carrier, and a route
	// via a gateway on that subnet fails before.
	AfterLinksUp bool
}

// Len is the number of operations.
func (p *Plan) Len() int {
	n := 0
	for _, s := range p.Stages {
		n += len(s.Ops)
	}
	return n
}

// Empty reports whether the plan changes nothing.
func (p *Plan) Empty() bool { return p.Len() == 0 }

func (p *Plan) add(name string, ops []kernel.Op) {
	if len(ops) > 0 {
		p.Stages = append(p.Stages, Stage{Name: name, Ops: ops})
	}
}

// WriteScript writes the plan as the equivalent shell script of ip
// commands, one comment line per stage.
func (p *Plan) WriteScript(w io.Writer) error {
	var b strings.Builder
	for i, s := range p.Stages {
		if i > 0 {
			b.WriteByte('\n')
		}
		fmt.Fprintf(&b, "# %s (%d)\n", s.Name, len(s.Ops))
		if s.AfterLinksUp {
			b.WriteString("# (once every link above is up)\n")
		}
		for _, op := range s.Ops {
			b.WriteString(op.String())
			b.WriteByte('\n')
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// nodeSysctls are set in every node before its interfaces exist: duplicate
// address detection off, so that IPv6 addresses work the moment up
// returns; and no router solicitations, because a bridge floods them to
// every port and a few hundred new nodes at once overflow the kernel's
// input queues. A node's sysctls in the file can turn them back on.
var nodeSysctls = []kernel.Sysctl{
	{Key: "net.ipv6.conf.all.accept_dad", Value: "0"},
	{Key: "net.ipv6.conf.default.accept_dad", Value: "0"},
	{Key: "net.ipv6.conf.default.router_solicitations", Value: "0"},
}

var routerSysctls = []kernel.Sysctl{
	{Key: "net.ipv4.ip_forward", Value: "1"},
	{Key: "net.ipv6.conf.all.forwarding", Value: "1"},
}

// Up plans the creation of a lab against the observed state. It fails,
// changing nothing, when a name the lab needs belongs to something else or
// when the lab already exists.
func Up(lab *topology.Lab, st *kernel.State) (*Plan, error) {
	if err := checkClashes(lab, st); err != nil {
		return nil, err
	}
	p := &Plan{Lab: lab.Name, Made: lab}
	// The lab's table goes in beside the namespaces: nothing reaches the
	// host from the lab before its links carry addresses.
	spaces := namespaceOps(lab, st.UTSHolder)
	if fw := firewallOp(lab); fw != nil {
		spaces = append([]kernel.Op{fw}, spaces...)
	}
	p.add("namespaces", spaces)
	p.add("bridges", bridgeOps(lab))
	p.add("links", append(append(linkOps(lab), tapOps(lab)...), tunnelOps(lab)...))
	p.add("overlays", overlayOps(lab))
	p.add("interfaces", ifaceOps(lab))
	p.add("ports", portOps(lab))
	p.add("vlans", vlanOps(lab))
	p.add("sysctls", sysctlOps(lab))
	p.add("addresses", addressOps(lab))
	p.add("shaping", shapeOps(lab))
	p.add("bridges up", append(bridgeUpOps(lab), hostSysctlOps(lab)...))
	p.add("routes", routeOps(lab))
	if n := len(p.Stages); n > 0 && p.Stages[n-1].Name == "routes" {
		p.Stages[n-1].AfterLinksUp = true
	}
	return p, nil
}

// namespaceOps makes the lab's nodes, with their hostnames kept in holder
// unless it is "".
func namespaceOps(lab *topology.Lab, holder string) []kernel.Op {
	ops := make([]kernel.Op, 0, len(lab.Nodes))
	for _, n := range lab.Nodes {
		sys := append([]kernel.Sysctl(nil), nodeSysctls...)
		if n.Router {
			sys = append(sys, routerSysctls...)
		}
		op := &kernel.NetnsAdd{
			Name:    NetnsName(lab.Name, n.Name),
			Marker:  kernel.Marker(lab.Name, kernel.KindNode, n.Name),
			Sysctls: sys,
		}
		if holder != "" {
			op.Holder, op.Node, op.Hostname = holder, n.Name, n.HostnameOf()
		}
		ops = append(ops, op)
	}
	return ops
}

func bridgeOps(lab *topology.Lab) []kernel.Op {
	var ops []kernel.Op
	for _, b := range lab.Bridges {
		ops = append(ops, &kernel.BridgeAdd{
			Name: BridgeName(lab.Name, b.Name),
			Tags: kernel.Tags{Alias: kernel.Marker(lab.Name, kernel.KindBridge, b.Name), AltName: BridgeAltName(lab.Name, b.Name), Group: Group(lab.Name)},
			MTU:  b.MTU,
			MAC:  BridgeMAC(lab.Name, b.Name),

			VLANFiltering: b.VLANFiltering,
		})
	}
	return ops
}

func linkOps(lab *topology.Lab) []kernel.Op {
	ops := make([]kernel.Op, 0, len(lab.Links))
	for _, l := range lab.Links {
		ops = append(ops, vethOp(lab, l))
	}
	return ops
}

// portOps turns IPv6 off on every bridge port, trunks included, before
// the nodes' ends come up (see kernel.PortsIPv6Off).
func portOps(lab *topology.Lab) []kernel.Op {
	var names []string
	for _, l := range lab.Links {
		switch l.Kind {
		case topology.Port:
			names = append(names, PortName(lab.Name, l.A.Node, l.A.Name))
		case topology.Trunk:
			names = append(names, TrunkName(lab.Name, l.Bridge.Name, "a"), TrunkName(lab.Name, l.Bridge.Name, "b"))
		}
	}
	names = append(names, tapNames(lab)...)
	names = append(names, tunnelNames(lab)...)
	if len(names) == 0 {
		return nil
	}
	return []kernel.Op{&kernel.PortsIPv6Off{Names: names}}
}

// peerIndex is the interface index asked for the A end of a cable
// between two nodes. The kernel brings a veth's operational state up at
// once only when its index differs from its peer's (linkwatch_urgent_event
// takes equal ones for a device without a lower link); otherwise it waits
// for the next linkwatch round, up to a second. In fresh namespaces both
// ends get index 2 and collide, which made every lab with node-to-node
// cables take a second to come up. 2^20 plus the interface's place among
// its node's interfaces is unique in the node and never meets the small
// indexes the kernel gives.
func peerIndex(t *topology.Lab, a *topology.Interface) int32 {
	n := t.Node(a.Node)
	if n == nil {
		return 0
	}
	return 1<<20 + int32(slices.Index(n.Interfaces, a))
}

// vethOp creates a cable from the root namespace where one end stays
// there (a bridge port or host interface), else from A's namespace.
func vethOp(t *topology.Lab, l *topology.Link) *kernel.VethAdd {
	lab, a := t.Name, l.A
	switch {
	case l.Kind == topology.Trunk:
		return trunkOp(lab, l)
	case l.Kind == topology.Port:
		return &kernel.VethAdd{
			Name:   PortName(lab, a.Node, a.Name),
			Tags:   kernel.Tags{Alias: kernel.Marker(lab, kernel.KindPort, a.Ref()), AltName: PortAltName(lab, a.Node, a.Name), Group: Group(lab)},
			MTU:    a.MTU,
			Master: BridgeName(lab, l.Bridge.Name),
			PeerNS: NetnsName(lab, a.Node), PeerName: a.Name, PeerMAC: a.MAC,
		}
	case l.A.OnHost() || l.B.OnHost():
		host, node := l.A, l.B
		if node.OnHost() {
			host, node = node, host
		}
		return &kernel.VethAdd{
			Name:   HostIfName(lab, host.Name),
			Tags:   kernel.Tags{Alias: kernel.Marker(lab, kernel.KindHost, host.Name), AltName: HostIfAltName(lab, host.Name), Group: Group(lab)},
			MTU:    max(host.MTU, node.MTU),
			MAC:    host.MAC,
			PeerNS: NetnsName(lab, node.Node), PeerName: node.Name, PeerMAC: node.MAC,
		}
	}
	b := l.B
	return &kernel.VethAdd{
		NS: NetnsName(lab, a.Node), Name: a.Name, Index: peerIndex(t, a), MTU: max(a.MTU, b.MTU), MAC: a.MAC,
		PeerNS: NetnsName(lab, b.Node), PeerName: b.Name, PeerMAC: b.MAC,
	}
}

// trunkOp joins two bridges with a veth pair whose ends are ports of each.
func trunkOp(lab string, l *topology.Link) *kernel.VethAdd {
	br, up := l.Bridge.Name, l.Uplink.Name
	mark := kernel.Marker(lab, kernel.KindTrunk, br)
	return &kernel.VethAdd{
		Name:       TrunkName(lab, br, "a"),
		Tags:       kernel.Tags{Alias: mark, AltName: TrunkAltName(lab, br, up), Group: Group(lab)},
		MTU:        max(l.Bridge.MTU, l.Uplink.MTU),
		Master:     BridgeName(lab, br),
		PeerName:   TrunkName(lab, br, "b"),
		PeerTags:   kernel.Tags{Alias: mark, AltName: TrunkAltName(lab, up, br), Group: Group(lab)},
		PeerMaster: BridgeName(lab, up),
	}
}

// shapeOps shapes the cables that have a shape, on the veth ends it
// holds for: each end shapes what leaves it.
func shapeOps(lab *topology.Lab) []kernel.Op {
	var ops []kernel.Op
	for _, l := range lab.Links {
		if len(l.Shapes()) > 0 {
			for _, o := range shapeEnds(lab, l, false) {
				if o.(*kernel.QdiscSet).Shape != nil {
					ops = append(ops, o)
				}
			}
		}
	}
	return ops
}

// shapeEnds sets the shapes of the cable l on its two veth ends (none
// where it has none), which replace says are shaped already.
func shapeEnds(lab *topology.Lab, l *topology.Link, replace bool) []kernel.Op {
	v := vethOp(lab, l)
	name, peer := endShapes(l)
	return []kernel.Op{
		&kernel.QdiscSet{NS: v.NS, Name: v.Name, PeerNS: v.PeerNS, PeerName: v.PeerName, Shape: kernelShape(name, v.MTU), Replace: replace},
		&kernel.QdiscSet{NS: v.PeerNS, Name: v.PeerName, PeerNS: v.NS, PeerName: v.Name, Shape: kernelShape(peer, v.MTU), Replace: replace},
	}
}

// endShapes is the shape of what leaves each veth end of the cable, in
// vethOp's order (Name, then Peer): a shape holds for what leaves its
// interface's end unless it is direction in, for what leaves the other
// end unless it is direction out.
func endShapes(l *topology.Link) (name, peer *topology.Shape) {
	for _, i := range []*topology.Interface{l.A, l.B} {
		if i == nil || i.Shape == nil {
			continue
		}
		// The node's end is the Peer of a bridge port and of a cable to
		// the host; of a cable between nodes, A is Name and B is Peer.
		own, other := &peer, &name
		if l.Kind != topology.Port && !l.A.OnHost() && !l.B.OnHost() && i == l.A || i.OnHost() {
			own, other = &name, &peer
		}
		if i.Shape.Out() {
			*own = i.Shape
		}
		if i.Shape.In() {
			*other = i.Shape
		}
	}
	return name, peer
}

func kernelShape(s *topology.Shape, mtu int) *kernel.Shape {
	if s == nil {
		return nil
	}
	return &kernel.Shape{Rate: s.Rate, Delay: s.Delay, Jitter: s.Jitter, Loss: s.Loss,
		Duplicate: s.Duplicate, Reorder: s.Reorder, Corrupt: s.Corrupt, MTU: mtu}
}

func sysctlOps(lab *topology.Lab) []kernel.Op {
	var ops []kernel.Op
	for _, n := range lab.Nodes {
		if len(n.Sysctls) == 0 {
			continue
		}
		op := &kernel.SysctlSet{NS: NetnsName(lab.Name, n.Name)}
		for _, s := range n.Sysctls {
			op.Settings = append(op.Settings, kernel.Sysctl{Key: s.Key, Value: s.Value})
		}
		ops = append(ops, op)
	}
	return ops
}

func addressOps(lab *topology.Lab) []kernel.Op {
	var ops []kernel.Op
	for _, i := range lab.Host {
		ops = append(ops, &kernel.LinkSetup{Name: HostIfName(lab.Name, i.Name), Addresses: i.Addresses})
	}
	for _, n := range lab.Nodes {
		for _, i := range n.Interfaces {
			ops = append(ops, &kernel.LinkSetup{NS: NetnsName(lab.Name, n.Name), Name: i.Name, Addresses: i.Addresses})
		}
	}
	return ops
}

// bridgeUpOps brings the bridges up once every node is wired and
// addressed (see kernel.BridgeAdd), and gives them their host-side
// addresses (see kernel.LinkSetup for why after).
func bridgeUpOps(lab *topology.Lab) []kernel.Op {
	var ops []kernel.Op
	for _, b := range lab.Bridges {
		ops = append(ops, &kernel.LinkSetup{Name: BridgeName(lab.Name, b.Name), Addresses: b.Addresses})
	}
	return ops
}

func routeOps(lab *topology.Lab) []kernel.Op {
	var ops []kernel.Op
	for _, n := range lab.Nodes {
		for _, r := range n.Routes {
			ops = append(ops, routeOp(NetnsName(lab.Name, n.Name), r, false))
		}
	}
	return ops
}

// routeOp adds the route r of a node in the namespace ns.
func routeOp(ns string, r topology.Route, replace bool) *kernel.RouteAdd {
	return &kernel.RouteAdd{NS: ns, To: r.To, Via: r.Via, Dev: r.Dev, Metric: r.Metric, Table: r.Table, Replace: replace}
}

// Saved is what nslab's own state says of a lab, for Down: the topology
// the lab was last built or changed from (nil when there is none, or it
// cannot be read) and whether the lab's state directory exists.
type Saved struct {
	Topology *topology.Lab
	StateDir bool
}

// Down plans the removal of everything the observed state marks as the
// lab's. The lab's links in the root namespace go first, in one batch when
// their link group holds nothing else (each veth takes its peer in a node
// along), and its bridges after them, emptied: a bridge deleted with its
// ports still in it detaches each while the port is still registered, so
// that every detaching sends notifications (promiscuity, master) that walk
// the root namespace's list of namespace ids; detached as they are
// unregistered, ports send none. The bridges move to a group of their own
// (BridgeGroup) as they go down, and go in one batch of that group. Then
// the namespaces, which the kernel frees in the background, all together
// (see kernel.NetnsDel's Hold).
// Nothing unmarked is ever touched, except what nslab leaves when it is
// killed part-way, which saved (optional) tells apart:
//
//   - a root link killed before its alias was set (the alias comes in the
//     message after the creating one): it is taken as the lab's when it has
//     no alias, is in the lab's link group and has a kernel name that the
//     saved topology gives, all three;
//   - an entry of /run/netns that is an empty file, killed before the bind
//     mount or after the unmount (st.Stale): removed when it is named as
//     one of the lab's nodes and the lab's state directory exists or the
//     saved topology has that node.
//
// A namespace that is mounted always has its mark: NetnsAdd marks lo
// before it bind-mounts the namespace, and a namespace that was never
// mounted dies with the nslab that made it.
func Down(lab string, st *kernel.State, saved ...Saved) *Plan {
	var sv Saved
	if len(saved) > 0 {
		sv = saved[0]
	}
	p := &Plan{Lab: lab}
	down, links, bridges := linkDelOps(lab, st, sv.Topology)
	p.add("bridges down", down)
	p.add("links", links)
	p.add("bridges", bridges)
	var spaces []kernel.Op
	for _, name := range sortedKeys(st.Namespaces) {
		if l, _, _, ok := kernel.ParseMarker(st.Namespaces[name]); ok && l == lab || staleOfLab(lab, name, st, sv) {
			spaces = append(spaces, &kernel.NetnsDel{Name: name, Hold: true})
		}
	}
	// The lab's table goes beside the namespaces: deleting a table waits
	// for an RCU grace period (5-25 ms), which it then shares with them.
	p.add("namespaces", append(spaces, &kernel.FirewallDel{Lab: lab}))
	if len(spaces) > 0 {
		p.add("release", []kernel.Op{&kernel.NetnsRelease{}})
	}
	return p
}

// staleOfLab reports whether a /run/netns entry is an empty file that a
// killed nslab left for one of the lab's nodes.
func staleOfLab(lab, ns string, st *kernel.State, sv Saved) bool {
	if !st.Stale[ns] {
		return false
	}
	l, node, ok := SplitNetnsName(ns)
	if !ok || l != lab || node == "" {
		return false
	}
	return sv.StateDir || sv.Topology != nil && sv.Topology.Node(node) != nil
}

// linkDelOps plans the deletion of the lab's root links: its marked ones,
// and its unmarked ones that saved names (see Down). It takes the lab's
// bridges down (down), moving them to BridgeGroup when their ports go by
// group, deletes the other links (links) and then the bridges (bridges):
// by group where the group holds only the lab's links, else one by one.
func linkDelOps(lab string, st *kernel.State, saved *topology.Lab) (down, links, bridges []kernel.Op) {
	group, bridgeGroup := Group(lab), BridgeGroup(lab)
	var names map[string]bool // the root names of saved, made when needed
	byGroup := map[uint32][]string{}
	foreign := map[uint32]bool{}
	var marked []string // the lab's bridges, by their marks
	for _, name := range sortedKeys(st.Links) {
		l := st.Links[name]
		owner, kind, _, ok := kernel.ParseMarker(l.Alias)
		mine := ok && owner == lab
		if !mine && l.Alias == "" && l.Group == group && saved != nil {
			if names == nil {
				names = map[string]bool{}
				for _, w := range rootNames(saved) {
					names[w.name] = true
				}
			}
			mine = names[name]
		}
		switch {
		case !mine:
			foreign[l.Group] = true
		default:
			byGroup[l.Group] = append(byGroup[l.Group], name)
			if ok && kind == kernel.KindBridge {
				marked = append(marked, name)
			}
		}
	}
	byGroupDel := func(g uint32, names []string) []kernel.Op {
		if len(names) == 0 {
			return nil
		}
		if g != 0 && !foreign[g] {
			return []kernel.Op{&kernel.LinkGroupDel{Group: g, Names: names}}
		}
		ops := make([]kernel.Op, len(names))
		for i, name := range names {
			ops[i] = &kernel.LinkDel{Name: name}
		}
		return ops
	}
	// The bridges leave the lab's group only when its other links go by
	// group and the bridges' group holds nothing foreign.
	move := group != bridgeGroup && !foreign[group] && !foreign[bridgeGroup] && len(byGroup[group]) > 0
	moved := map[string]bool{}
	for _, name := range marked {
		op := &kernel.LinkDown{Name: name}
		if move && st.Links[name].Group == group {
			op.Group = bridgeGroup
			moved[name] = true
		}
		down = append(down, op)
	}
	var emptied []string // deleted after the links, from the bridges' group
	for _, g := range slices.Sorted(maps.Keys(byGroup)) {
		var rest []string
		for _, name := range byGroup[g] {
			if moved[name] || move && g == bridgeGroup {
				emptied = append(emptied, name)
			} else {
				rest = append(rest, name)
			}
		}
		links = append(links, byGroupDel(g, rest)...)
	}
	slices.Sort(emptied)
	return down, links, byGroupDel(bridgeGroup, emptied)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
