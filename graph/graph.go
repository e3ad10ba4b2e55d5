package graph

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/nslab/nslab/plan"
	"github.com/nslab/nslab/topology"
)

// Kinds of graph nodes.
const (
	KindNode   = "node"   // a network namespace
	KindRouter = "router" // a node that forwards (router: true)
	KindBridge = "bridge" // a Linux bridge in the root namespace
	KindHost   = "host"   // the root namespace, for node–host cables
)

// Kinds of edges.
const (
	EdgeCable = "cable" // a veth pair between two nodes, or a node and the host
	EdgePort  = "port"  // a node's interface plugged into a bridge
	EdgeTrunk = "trunk" // two bridges joined into one segment
)

// Graph is a lab drawn as nodes and cables.
type Graph struct {
	Lab   string `json:"lab"`
	Nodes []Node `json:"nodes"`
	Edges []Edge `json:"edges"`
	// Partition is the groups of nodes of the partition in force; the
	// Group of each node indexes it.
	Partition [][]string `json:"partition,omitempty"`
	// Blocks are the one-way blocks in force, as nslab block takes them
	// ("ns1 -> ns2 loss 20%").
	Blocks []string `json:"blocks,omitempty"`
}

// Node is a graph node: a lab node, a bridge or the host.
type Node struct {
	// ID is unique in the graph: "node:NAME", "bridge:NAME" or "host".
	ID   string `json:"id"`
	Name string `json:"name"`
	Kind string `json:"kind"`
	// Addresses are a bridge's own (host side) addresses.
	Addresses []string `json:"addresses,omitempty"`
	// Services are the names of the node's services.
	Services []string `json:"services,omitempty"`
	// Group is 1 + the index of the node's group in Graph.Partition, 0
	// when no partition is in force.
	Group int `json:"group,omitempty"`
	// Inner are the node's interfaces that are no cable's end: vlan
	// sub-interfaces, bonds, vrfs, dummies, macvlans, ipvlans and tunnel
	// ends of overlays, with their addresses.
	Inner []Inner `json:"inner,omitempty"`
}

// Inner is an interface made inside a node.
type Inner struct {
	Name string `json:"name"`
	Kind string `json:"kind"`
	// On says what it rides on or holds: "eth0" (a vlan's parent), "eth1,
	// eth2" (a bond's or vrf's members), "overlay ov1" (a tunnel end).
	On        string   `json:"on,omitempty"`
	Addresses []string `json:"addresses,omitempty"`
}

// Text is the inner interface in a line: "bond0 (bond of eth0, eth1)
// 10.0.0.1/24".
func (i Inner) Text() string {
	s := i.Name + " (" + i.Kind
	if i.On != "" {
		s += " " + i.On
	}
	s += ")"
	if len(i.Addresses) > 0 {
		s += " " + strings.Join(i.Addresses, " ")
	}
	return s
}

// inner lists the interfaces of n that are no cable's end.
func inner(n *topology.Node) []Inner {
	var out []Inner
	for _, i := range n.Interfaces {
		if i.Link != nil {
			continue
		}
		x := Inner{Name: i.Name, Kind: i.Kind, Addresses: strs(i.Addresses)}
		switch {
		case i.Overlay != nil:
			x.Kind, x.On = "vxlan", fmt.Sprintf("overlay %s over %s", i.Overlay.Name, i.Underlay)
		case i.Parent != "":
			x.On = "on " + i.Parent
			if i.VLAN != 0 {
				x.Kind = fmt.Sprintf("vlan %d", i.VLAN)
			}
		case len(i.Members) > 0:
			x.On = "of " + strings.Join(i.Members, ", ")
		}
		if x.Kind == "" {
			x.Kind = "interface"
		}
		out = append(out, x)
	}
	return out
}

// End is one end of a cable: a graph node and, except for a bridge's
// side, the interface there.
type End struct {
	Node      string   `json:"node"` // a Node.ID
	Iface     string   `json:"iface,omitempty"`
	Addresses []string `json:"addresses,omitempty"`
}

// Edge is a cable (one veth pair).
type Edge struct {
	// ID names the cable as nslab does: "ns1:eth0 -- br0",
	// "r1:eth1 -- r2:eth0", "br1 -- br0".
	ID   string `json:"id"`
	Kind string `json:"kind"`
	A    End    `json:"a"`
	B    End    `json:"b"`
	// Shape is how the cable is shaped, in the file's words; the
	// runtime shape in force when there is one.
	Shape string `json:"shape,omitempty"`
	// RuntimeShape says Shape was set at runtime (nslab link shape).
	RuntimeShape bool `json:"runtime_shape,omitempty"`
	// Cut says the cable is cut (nslab link down).
	Cut bool `json:"cut,omitempty"`
}

// NodeID returns the graph ID of a lab node.
func NodeID(name string) string {
	if name == topology.HostNode {
		return KindHost
	}
	return "node:" + name
}

// BridgeID returns the graph ID of a bridge.
func BridgeID(name string) string { return "bridge:" + name }

// Build draws the lab t. f, the record of the faults in force of a
// running lab, may be nil.
func Build(t *topology.Lab, f *plan.Faults) *Graph {
	g := &Graph{Lab: t.Name, Nodes: []Node{}, Edges: []Edge{}}
	if f == nil {
		f = &plan.Faults{}
	}
	group := map[string]int{}
	for i, grp := range f.Partition {
		g.Partition = append(g.Partition, slices.Clone(grp))
		for _, n := range grp {
			group[n] = i + 1
		}
	}
	for _, b := range f.Blocks {
		g.Blocks = append(g.Blocks, b.String())
	}
	for _, n := range t.Nodes {
		kind := KindNode
		if n.Router {
			kind = KindRouter
		}
		node := Node{ID: NodeID(n.Name), Name: n.Name, Kind: kind, Group: group[n.Name], Inner: inner(n)}
		for _, s := range n.Services {
			node.Services = append(node.Services, s.Name)
		}
		g.Nodes = append(g.Nodes, node)
	}
	for _, b := range t.Bridges {
		g.Nodes = append(g.Nodes, Node{ID: BridgeID(b.Name), Name: b.Name, Kind: KindBridge, Addresses: strs(b.Addresses)})
	}
	if len(t.Host) > 0 {
		g.Nodes = append(g.Nodes, Node{ID: KindHost, Name: topology.HostNode, Kind: KindHost})
	}
	cut := map[*topology.Link]bool{}
	for _, ref := range f.Cuts {
		if i := iface(t, ref); i != nil && i.Link != nil {
			cut[i.Link] = true
		}
	}
	runtime := map[*topology.Link]plan.RuntimeShape{}
	for _, r := range f.Shapes {
		if i := iface(t, r.Iface); i != nil && i.Link != nil {
			runtime[i.Link] = r
		}
	}
	for _, k := range t.Links {
		e := edge(k)
		e.Cut = cut[k]
		if r, ok := runtime[k]; ok {
			e.RuntimeShape = true
			e.Shape = "off"
			if s := r.Shape(); s != nil {
				e.Shape = s.String()
			}
		}
		g.Edges = append(g.Edges, e)
	}
	return g
}

func edge(k *topology.Link) Edge {
	e := Edge{ID: k.String()}
	switch k.Kind {
	case topology.Port:
		e.Kind = EdgePort
		e.A = end(k.A)
		e.B = End{Node: BridgeID(k.Bridge.Name)}
	case topology.Trunk:
		e.Kind = EdgeTrunk
		e.A = End{Node: BridgeID(k.Bridge.Name)}
		e.B = End{Node: BridgeID(k.Uplink.Name)}
	default:
		e.Kind = EdgeCable
		e.A, e.B = end(k.A), end(k.B)
	}
	var shapes []string
	for _, s := range k.Shapes() {
		shapes = append(shapes, s.String())
	}
	e.Shape = strings.Join(shapes, "; ")
	return e
}

func end(i *topology.Interface) End {
	return End{Node: NodeID(i.Node), Iface: i.Name, Addresses: strs(i.Addresses)}
}

func strs(ps []netip.Prefix) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.String())
	}
	return out
}

// iface finds "node:iface" ("host:name" for a host interface) in t.
func iface(t *topology.Lab, ref string) *topology.Interface {
	node, name, ok := strings.Cut(ref, ":")
	if !ok {
		return nil
	}
	if node == topology.HostNode {
		for _, i := range t.Host {
			if i.Name == name {
				return i
			}
		}
		return nil
	}
	if n := t.Node(node); n != nil {
		return n.Interface(name)
	}
	return nil
}

// Node returns the node with the given ID, or nil.
func (g *Graph) Node(id string) *Node {
	for i := range g.Nodes {
		if g.Nodes[i].ID == id {
			return &g.Nodes[i]
		}
	}
	return nil
}
