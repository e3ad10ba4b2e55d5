package plan

import (
	"slices"

	"github.com/nslab/nslab/kernel"
	"github.com/nslab/nslab/topology"
)

// overlayOps makes the VXLAN device of every overlay member, once the
// cables its tunnel runs over exist; addressOps then brings it up with
// its addresses like any interface.
func overlayOps(lab *topology.Lab) []kernel.Op {
	var ops []kernel.Op
	for _, n := range lab.Nodes {
		for _, i := range n.Interfaces {
			if op := vxlanOp(lab, i); op != nil {
				ops = append(ops, op)
			}
		}
	}
	return ops
}

// vxlanOp is the device of an overlay's interface, nil for any other.
func vxlanOp(lab *topology.Lab, i *topology.Interface) *kernel.VXLANAdd {
	e, ok := lab.OverlayEnd(i)
	if !ok {
		return nil
	}
	return &kernel.VXLANAdd{
		NS: NetnsName(lab.Name, i.Node), Name: i.Name,
		VNI: i.Overlay.VNI, Port: i.Overlay.Port,
		Local: e.Local, Dev: i.Underlay, MTU: e.MTU, MAC: i.MAC,
		Remotes: e.Remotes,
	}
}

// overlays plans the VXLAN devices of a reconciled lab: those of nodes
// made anew, new ones, and those whose settings changed (remade: a VXLAN
// device's VNI, port, local address and underlay are fixed at creation),
// whose underlay cable is made anew (the kernel deletes a VXLAN device
// with its lower device), or that an observed node lacks. Kept ones get
// their addresses changed in place; those the file dropped are deleted.
func (r *reconciler) overlays() (made, setup []kernel.Op) {
	for _, n := range r.lab.Nodes {
		ns := NetnsName(r.name, n.Name)
		obs := r.observed(n.Name)
		var old *topology.Node
		if !r.remakeNode[n.Name] {
			old = r.old.Node(n.Name)
		}
		for _, i := range n.Interfaces {
			op := vxlanOp(r.lab, i)
			if op == nil {
				continue
			}
			var oi *topology.Interface
			if old != nil {
				oi = old.Interface(i.Name)
			}
			var was *kernel.VXLANAdd
			if oi != nil {
				was = vxlanOp(r.old, oi)
			}
			u := n.Interface(i.Underlay)
			underlayRemade := u != nil && u.Link != nil && r.remakeLink[u.Link]
			missing := obs != nil && obs.Links[i.Name] == nil
			if was != nil && sameDevice(was, op) && !underlayRemade && !missing {
				if set := remotesSet(was, op); set != nil {
					made = append(made, set)
				}
				if obs != nil {
					r.nodeAddrs(obs, ns, i.Name, oi.Addresses, i.Addresses)
				} else {
					r.addrDiff(ns, i.Name, oi.Addresses, i.Addresses)
				}
				continue
			}
			if was != nil {
				r.linksDel = append(r.linksDel, &kernel.LinkDel{NS: ns, Name: i.Name})
			}
			made = append(made, op)
			setup = append(setup, &kernel.LinkSetup{NS: ns, Name: i.Name, Addresses: i.Addresses})
		}
		if old == nil {
			continue
		}
		for _, oi := range old.Interfaces {
			if oi.Overlay != nil && vxlanOp(r.lab, orNil(n.Interface(oi.Name))) == nil {
				r.linksDel = append(r.linksDel, &kernel.LinkDel{NS: ns, Name: oi.Name})
			}
		}
	}
	return made, setup
}

// orNil keeps a nil interface nil for vxlanOp.
func orNil(i *topology.Interface) *topology.Interface {
	if i == nil {
		return &topology.Interface{}
	}
	return i
}

// sameDevice reports whether two VXLAN devices differ in their remotes
// at most.
func sameDevice(a, b *kernel.VXLANAdd) bool {
	x, y := *a, *b
	x.Remotes, y.Remotes = nil, nil
	return x.String() == y.String()
}

// remotesSet changes the remotes of was to those of now, nil if they are
// the same.
func remotesSet(was, now *kernel.VXLANAdd) *kernel.VXLANRemotesSet {
	set := &kernel.VXLANRemotesSet{NS: now.NS, Name: now.Name}
	for _, a := range now.Remotes {
		if !slices.Contains(was.Remotes, a) {
			set.Add = append(set.Add, a)
		}
	}
	for _, a := range was.Remotes {
		if !slices.Contains(now.Remotes, a) {
			set.Del = append(set.Del, a)
		}
	}
	if len(set.Add)+len(set.Del) == 0 {
		return nil
	}
	return set
}
