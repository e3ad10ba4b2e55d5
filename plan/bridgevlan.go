package plan

import (
	"slices"

	"github.com/nslab/nslab/kernel"
	"github.com/nslab/nslab/topology"
)

// vlanOps gives the ports, trunks and host sides of VLAN-filtering
// bridges their VLANs, once every port is attached.
func vlanOps(lab *topology.Lab) []kernel.Op {
	var ops []kernel.Op
	for _, b := range lab.Bridges {
		if op := selfVLANs(lab.Name, b, nil); op != nil {
			ops = append(ops, op)
		}
	}
	for _, l := range lab.Links {
		for _, op := range linkVLANs(lab.Name, l, nil) {
			ops = append(ops, op)
		}
	}
	for _, t := range lab.Taps() {
		if op := tapVLANs(lab.Name, t); op != nil {
			ops = append(ops, op)
		}
	}
	return ops
}

// tapVLANs puts a new tap in its VLAN.
func tapVLANs(lab string, t *topology.Tap) kernel.Op {
	if !t.Bridge.VLANFiltering {
		return nil
	}
	if op := vlanSet(TapName(lab, t.Name), false, nil, t.VLAN, nil); op != nil {
		return op
	}
	return nil
}

// vlanSet is the change from a port's VLANs as was (nil: as the kernel
// makes a new port, VLAN 1 untagged) to pvid and tagged; nil if none.
func vlanSet(dev string, self bool, was *portVLANs, pvid int, tagged []int) *kernel.BridgeVLANSet {
	if was == nil {
		was = &portVLANs{pvid: topology.DefaultVLAN}
	}
	pvid = topology.PortPVID(pvid)
	o := &kernel.BridgeVLANSet{Dev: dev, Self: self}
	if was.pvid != pvid && !slices.Contains(tagged, was.pvid) {
		o.Del = append(o.Del, was.pvid)
	}
	for _, id := range was.tagged {
		if !slices.Contains(tagged, id) && id != pvid {
			o.Del = append(o.Del, id)
		}
	}
	if was.pvid != pvid {
		o.Add = append(o.Add, kernel.BridgeVLAN{ID: pvid, PVID: true, Untagged: true})
	}
	for _, id := range tagged {
		if !slices.Contains(was.tagged, id) || id == was.pvid {
			o.Add = append(o.Add, kernel.BridgeVLAN{ID: id})
		}
	}
	if len(o.Del)+len(o.Add) == 0 {
		return nil
	}
	return o
}

// portVLANs is what a port carries: the VLAN of its untagged frames and
// its tagged ones.
type portVLANs struct {
	pvid   int
	tagged []int
}

// selfVLANs is the change of a bridge's host side to its vlan, from was
// (nil: a new bridge).
func selfVLANs(lab string, b *topology.Bridge, was *topology.Bridge) kernel.Op {
	if !b.VLANFiltering {
		return nil
	}
	var w *portVLANs
	if was != nil && was.VLANFiltering {
		w = &portVLANs{pvid: topology.PortPVID(was.PVID)}
	}
	if op := vlanSet(BridgeName(lab, b.Name), true, w, b.PVID, nil); op != nil {
		return op
	}
	return nil
}

// linkVLANs are the changes of the VLANs of a port or trunk on
// VLAN-filtering bridges, from was (nil: a new cable).
func linkVLANs(lab string, l, was *topology.Link) []kernel.Op {
	var ops []kernel.Op
	switch {
	case l.Kind == topology.Port && l.Bridge.VLANFiltering:
		var w *portVLANs
		if was != nil && was.Bridge.VLANFiltering {
			w = &portVLANs{pvid: topology.PortPVID(was.A.PVID), tagged: was.A.Tagged}
		}
		if op := vlanSet(PortName(lab, l.A.Node, l.A.Name), false, w, l.A.PVID, l.A.Tagged); op != nil {
			ops = append(ops, op)
		}
	case l.Kind == topology.Trunk && l.Bridge.VLANFiltering:
		var w *portVLANs
		if was != nil && was.Bridge.VLANFiltering {
			w = &portVLANs{pvid: topology.DefaultVLAN, tagged: was.Bridge.Tagged}
		}
		for _, end := range []string{"a", "b"} {
			if op := vlanSet(TrunkName(lab, l.Bridge.Name, end), false, w, 0, l.Bridge.Tagged); op != nil {
				ops = append(ops, op)
			}
		}
	}
	return ops
}
