package lab

import (
	"github.com/nslab/nslab/kernel"
	"github.com/nslab/nslab/topology"
)

// checkBridgeVLANs refuses, before anything is built, a lab whose bridges
// filter VLANs on a kernel whose bridges cannot: at every vlan and vlans
// key, with what to do (a build option: no modprobe helps).
func checkBridgeVLANs(t *topology.Lab) error {
	var at []topology.Pos
	for _, b := range t.Bridges {
		if b.VLANFiltering && b.VLANPos.Line != 0 {
			at = append(at, b.VLANPos)
		}
	}
	for _, n := range t.Nodes {
		for _, i := range n.Interfaces {
			if i.HasVLANs() {
				at = append(at, i.VLANPos)
			}
		}
	}
	if len(at) == 0 {
		return nil
	}
	err := kernel.BridgeVLANSupported()
	if err == nil {
		return nil
	}
	var errs topology.ErrorList
	for _, pos := range at {
		errs = append(errs, &topology.Error{Pos: pos, Msg: "VLANs on a bridge: " + err.Error()})
	}
	return errs
}
