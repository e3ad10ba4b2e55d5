package plan

import (
	"fmt"
	"strings"

	"github.com/nslab/nslab/kernel"
	"github.com/nslab/nslab/topology"
)

// A cable is cut as when it is pulled out at its far end: the far veth
// end goes down, and the interface named sees its carrier drop while it
// keeps its addresses and routes. The far end is the bridge port of a
// node's interface on a bridge, the host end of a cable to the host, or
// the other node's interface. A node's end that goes down would lose its
// IPv6 addresses and its routes through it: it keeps its addresses
// (keep_addr_on_down), and its node's routes are put back when the cable
// is joined again.

// Cut plans cutting (up false) or joining again (up true) the cable of
// interface iface of node node ("host" for a host interface). When
// joining, Made is the part of the lab that must come up again, and the
// routes wait for it.
func Cut(lab *topology.Lab, node, iface string, up bool) (*Plan, error) {
	if n := lab.Node(node); n != nil && node != topology.HostNode {
		if i := n.Interface(iface); i != nil && !i.IsCable() {
			return nil, notACable(lab, i)
		}
	}
	i, err := findIface(lab, node, iface)
	if err != nil {
		return nil, err
	}
	l := i.Link
	farNS, farName := farEnd(lab, i)
	var far *topology.Interface // the far interface of the file, if any
	for _, x := range []*topology.Interface{l.A, l.B} {
		if x != nil && x != i {
			far = x
		}
	}
	ready := &topology.Lab{Name: lab.Name, Links: []*topology.Link{l}}
	for _, x := range []*topology.Interface{i, far} {
		switch {
		case x == nil:
		case x.OnHost():
			ready.Host = append(ready.Host, x)
		default:
			ready.Nodes = append(ready.Nodes, &topology.Node{Name: x.Node, Interfaces: []*topology.Interface{x}})
		}
	}
	p := &Plan{Lab: lab.Name}
	if !up {
		if far != nil {
			p.add("addresses kept", []kernel.Op{&kernel.SysctlSet{NS: farNS, Settings: []kernel.Sysctl{{Key: "net.ipv6.conf." + farName + ".keep_addr_on_down", Value: "1"}}}})
		}
		p.add("cut", []kernel.Op{&kernel.LinkDown{NS: farNS, Name: farName}})
		return p, nil
	}
	p.Made = ready
	joined := []kernel.Op{&kernel.LinkSetup{NS: farNS, Name: farName}, &kernel.NeighFlush{NS: nsOf(lab.Name, i), Name: kernelIfName(lab.Name, i)}}
	if far != nil {
		joined = append(joined, &kernel.NeighFlush{NS: farNS, Name: farName})
	}
	p.add("joined", joined)
	if far != nil && !far.OnHost() {
		var routes []kernel.Op
		for _, r := range lab.Node(far.Node).Routes {
			routes = append(routes, routeOp(farNS, r, true))
		}
		p.add("routes", routes)
		if len(routes) > 0 {
			p.Stages[len(p.Stages)-1].AfterLinksUp = true
		}
	}
	return p, nil
}

// notACable says why an interface made inside a node has no cable to
// cut, and which cable to cut instead.
func notACable(lab *topology.Lab, i *topology.Interface) error {
	n := lab.Node(i.Node)
	switch i.Kind {
	case topology.KindVLAN, topology.KindMacvlan, topology.KindIPvlan:
		root := i
		for hop := 0; hop <= len(n.Interfaces) && root != nil && !root.IsCable() && root.Kind != topology.KindBond; hop++ {
			root = n.Interface(root.Parent)
		}
		what := "its parent " + i.Parent
		if root != nil && root.Name != i.Parent {
			what += " rides on " + root.Name
		}
		return fmt.Errorf("%s is a %s on %s, which has no cable of its own: cut the cable under it (%s), which takes every sub-interface on it down", i.Ref(), i.Kind, i.Parent, what)
	case topology.KindBond:
		return fmt.Errorf("%s is a bond, which has no cable of its own: cut a member's cable (nslab link down %s:%s) to see it fail over, or every member's", i.Ref(), i.Node, i.Members[0])
	}
	return fmt.Errorf("%s is a %s, which has no cable: only a cable's end can be cut", i.Ref(), i.Kind)
}

// farEnd is the kernel end of i's cable that a cut takes down: the peer
// side of the veth, unless i is the peer side.
func farEnd(lab *topology.Lab, i *topology.Interface) (ns, name string) {
	v := vethOp(lab, i.Link)
	if v.NS == nsOf(lab.Name, i) && v.Name == kernelIfName(lab.Name, i) {
		return v.PeerNS, v.PeerName
	}
	return v.NS, v.Name
}

func findIface(lab *topology.Lab, node, iface string) (*topology.Interface, error) {
	var ifaces []*topology.Interface
	if node == topology.HostNode {
		ifaces = lab.Host
	} else if n := lab.Node(node); n != nil {
		ifaces = n.Interfaces
	} else {
		return nil, fmt.Errorf("lab %s has no node %s", lab.Name, node)
	}
	for _, i := range ifaces {
		if i.Name == iface {
			if i.Overlay != nil {
				return nil, fmt.Errorf("%s is a tunnel end of overlay %s, not a cable: cut its underlay (%s:%s) to take %s off the overlay", i.Ref(), i.Overlay.Name, i.Node, i.Underlay, i.Node)
			}
			if i.Link == nil {
				return nil, fmt.Errorf("%s is in no cable", i.Ref())
			}
			return i, nil
		}
	}
	var names []string
	for _, i := range ifaces {
		names = append(names, i.Name)
	}
	return nil, fmt.Errorf("%s of lab %s has no interface %s (it has: %s)", node, lab.Name, iface, strings.Join(names, ", "))
}

// nsOf is the namespace of an interface: "" for the host's.
func nsOf(lab string, i *topology.Interface) string {
	if i.OnHost() {
		return ""
	}
	return NetnsName(lab, i.Node)
}

// kernelIfName is an interface's name in its namespace.
func kernelIfName(lab string, i *topology.Interface) string {
	if i.OnHost() {
		return HostIfName(lab, i.Name)
	}
	return i.Name
}
