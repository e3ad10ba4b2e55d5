package plan

import (
	"slices"

	"github.com/nslab/nslab/kernel"
	"github.com/nslab/nslab/topology"
)

// ifaceOps makes the interfaces of the lab's nodes that are not cable
// ends (see nodeIfaceOps).
func ifaceOps(lab *topology.Lab) []kernel.Op {
	var ops []kernel.Op
	for _, n := range lab.Nodes {
		ops = append(ops, nodeIfaceOps(lab.Name, n, nil)...)
	}
	return ops
}

// nodeIfaceOps makes the node's interfaces of other kinds than veth, in
// an order that works (the operations of one namespace run in order):
// dummies, vrfs and bonds; the bonds' members; sub-interfaces, each
// after its parent; the vrfs' members last, since a member may be any of
// them. only, when not nil, restricts it to those interfaces (a kept
// node's new or changed ones); members are enslaved when either end is
// among them.
func nodeIfaceOps(lab string, n *topology.Node, only map[string]bool) []kernel.Op {
	ns := NetnsName(lab, n.Name)
	want := func(name string) bool { return only == nil || only[name] }
	var ops []kernel.Op
	for _, i := range n.Interfaces {
		if (i.Kind == topology.KindDummy || i.Kind == topology.KindVRF || i.Kind == topology.KindBond) && want(i.Name) {
			ops = append(ops, ifaceAdd(ns, i))
		}
	}
	for _, i := range n.Interfaces {
		if i.Kind == topology.KindBond {
			ops = append(ops, enslave(ns, i, want)...)
		}
	}
	done := map[string]bool{}
	var add func(i *topology.Interface, depth int)
	add = func(i *topology.Interface, depth int) {
		if done[i.Name] || depth > len(n.Interfaces) {
			return
		}
		done[i.Name] = true
		if p := n.Interface(i.Parent); p != nil && isSub(p) {
			add(p, depth+1)
		}
		if want(i.Name) {
			ops = append(ops, ifaceAdd(ns, i))
		}
	}
	for _, i := range n.Interfaces {
		if isSub(i) {
			add(i, 0)
		}
	}
	for _, i := range n.Interfaces {
		if i.Kind == topology.KindVRF {
			ops = append(ops, enslave(ns, i, want)...)
		}
	}
	return ops
}

func isSub(i *topology.Interface) bool {
	return i.Kind == topology.KindVLAN || i.Kind == topology.KindMacvlan || i.Kind == topology.KindIPvlan
}

// isMade reports whether the interface is made inside its node (not a
// cable's end).
func isMade(i *topology.Interface) bool { return !i.IsCable() }

func ifaceAdd(ns string, i *topology.Interface) *kernel.IfaceAdd {
	o := &kernel.IfaceAdd{NS: ns, Name: i.Name, Kind: i.Kind, Parent: i.Parent, VLAN: i.VLAN, Protocol: i.Protocol,
		Mode: i.Mode, MTU: i.MTU, MAC: i.MAC, Table: i.Table}
	if i.Bond != nil {
		o.Miimon = int(i.Bond.Miimon.Milliseconds())
		o.LACPRate = i.Bond.LACPRate
	}
	return o
}

// enslave makes the members of a bond or vrf that want names (or all of
// them when want names the master) its members.
func enslave(ns string, m *topology.Interface, want func(string) bool) []kernel.Op {
	o := &kernel.IfaceEnslave{NS: ns, Master: m.Name, Bond: m.Kind == topology.KindBond}
	for _, x := range m.Members {
		if want(m.Name) || want(x) {
			o.Members = append(o.Members, x)
		}
	}
	if len(o.Members) == 0 {
		return nil
	}
	if m.Bond != nil && slices.Contains(o.Members, m.Bond.Primary) {
		o.Primary = m.Bond.Primary
	}
	return []kernel.Op{o}
}
