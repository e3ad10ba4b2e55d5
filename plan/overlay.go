package plan

import (
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
