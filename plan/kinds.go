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

// sameIface reports whether two versions of an interface made inside a
// node are made alike.
func sameIface(o, n *topology.Interface) bool {
	b := func(i *topology.Interface) topology.BondOpts {
		if i.Bond == nil {
			return topology.BondOpts{}
		}
		return *i.Bond
	}
	return o.Kind == n.Kind && o.Parent == n.Parent && o.VLAN == n.VLAN && o.Protocol == n.Protocol && o.Mode == n.Mode &&
		o.MTU == n.MTU && o.MAC.String() == n.MAC.String() && o.Table == n.Table && slices.Equal(o.Members, n.Members) && b(o) == b(n)
}

// kinds plans the interfaces made inside the nodes that are kept: those
// new, changed or missing are made (anew), with the sub-interfaces of a
// parent made anew and the members of a bond or vrf made anew; those the
// file no longer has are deleted; the others keep running and get their
// addresses changed in place. Runs after links, which decides the cables
// made anew.
func (r *reconciler) kinds() {
	for _, n := range r.lab.Nodes {
		if r.remakeNode[n.Name] {
			continue
		}
		o := r.old.Node(n.Name)
		ns := NetnsName(r.name, n.Name)
		obs := r.observed(n.Name)
		remake := map[string]bool{}
		for _, i := range n.Interfaces {
			if !isMade(i) {
				if i.Link != nil && r.remakeLink[i.Link] {
					remake[i.Name] = true // a new veth end: re-enslaved, its uppers made again
				}
				continue
			}
			was := o.Interface(i.Name)
			if was == nil || !sameIface(was, i) || obs != nil && obs.Links[i.Name] == nil {
				remake[i.Name] = true
			}
		}
		// Sub-interfaces of a parent made anew go with it.
		for changed := true; changed; {
			changed = false
			for _, i := range n.Interfaces {
				if isSub(i) && remake[i.Parent] && !remake[i.Name] {
					remake[i.Name], changed = true, true
				}
			}
		}
		// Delete what goes or is made anew.
		for _, w := range o.Interfaces {
			if !isMade(w) {
				continue
			}
			if i := n.Interface(w.Name); i == nil || !isMade(i) || remake[w.Name] {
				r.linksDel = append(r.linksDel, &kernel.LinkDel{NS: ns, Name: w.Name})
			}
		}
		made := false
		for _, i := range n.Interfaces {
			if !isMade(i) {
				continue
			}
			if remake[i.Name] {
				made = true
				r.addrsAdd = append(r.addrsAdd, &kernel.LinkSetup{NS: ns, Name: i.Name, Addresses: i.Addresses})
				if i.Kind == topology.KindBond { // its members went down to join it
					for _, m := range i.Members {
						// A member whose cable is made anew comes up with it (cableSetupOps).
						if mi := n.Interface(m); mi != nil && !(mi.Link != nil && r.remakeLink[mi.Link]) {
							r.addrsAdd = append(r.addrsAdd, &kernel.LinkSetup{NS: ns, Name: m})
						}
					}
				}
				continue
			}
			was := o.Interface(i.Name)
			if obs != nil {
				r.nodeAddrs(obs, ns, i.Name, was.Addresses, i.Addresses)
			} else {
				r.addrDiff(ns, i.Name, was.Addresses, i.Addresses)
			}
		}
		if len(remake) > 0 {
			r.ifaces = append(r.ifaces, nodeIfaceOps(r.name, n, remake)...)
		}
		if made {
			r.remadeIfaces[n.Name] = true
		}
	}
}

// madeSetupOps brings up the interfaces made inside the nodes of sub,
// with their addresses (the cable ends are cableSetupOps').
func madeSetupOps(sub *topology.Lab) []kernel.Op {
	var ops []kernel.Op
	for _, n := range sub.Nodes {
		for _, i := range n.Interfaces {
			if isMade(i) {
				ops = append(ops, &kernel.LinkSetup{NS: NetnsName(sub.Name, n.Name), Name: i.Name, Addresses: i.Addresses})
			}
		}
	}
	return ops
}
