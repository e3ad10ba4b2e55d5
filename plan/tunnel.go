package plan

import (
	"github.com/nslab/nslab/kernel"
	"github.com/nslab/nslab/topology"
)

// TunnelName is the kernel name of the VXLAN port that carries a
// bridge's segment to the lab's other machines (a lab across machines);
// its altname is TunnelAltName.
func TunnelName(lab, bridge string) string {
	return kernelName(kernel.TunnelPrefix, lab, kernel.KindTunnel, bridge)
}

// TunnelAltName is the readable name of a tunnel: "BRIDGE~.LAB".
func TunnelAltName(lab, bridge string) string { return bridge + "~." + lab }

// tunnelOp makes a bridge's tunnel as a port of the bridge, nil for a
// bridge without one.
func tunnelOp(lab string, b *topology.Bridge) *kernel.VXLANAdd {
	t := b.Tunnel
	if t == nil {
		return nil
	}
	return &kernel.VXLANAdd{
		Name: TunnelName(lab, b.Name),
		VNI:  t.VNI, Port: t.Port, Local: t.Local, Remotes: t.Remotes, MTU: b.MTU,
		Master: BridgeName(lab, b.Name),
		Tags:   kernel.Tags{Alias: kernel.Marker(lab, kernel.KindTunnel, b.Name), AltName: TunnelAltName(lab, b.Name), Group: Group(lab)},
	}
}

func tunnelOps(lab *topology.Lab) []kernel.Op {
	var ops []kernel.Op
	for _, b := range lab.Bridges {
		if op := tunnelOp(lab.Name, b); op != nil {
			ops = append(ops, op)
		}
	}
	return ops
}

// tunnelNames are the kernel names of the lab's tunnels.
func tunnelNames(lab *topology.Lab) []string {
	var out []string
	for _, b := range lab.Bridges {
		if b.Tunnel != nil {
			out = append(out, TunnelName(lab.Name, b.Name))
		}
	}
	return out
}

// tunnels plans the tunnels of a reconciled lab as taps are planned: one
// is kept when it is there, marked as the lab's, on a bridge that is
// kept, with the same settings; else it is made (anew). Those the lab no
// longer has are deleted with the other root links no cable explains.
func (r *reconciler) tunnels() {
	for _, b := range r.lab.Bridges {
		op := tunnelOp(r.name, b)
		if op == nil {
			continue
		}
		name, mark := op.Name, r.mark(kernel.KindTunnel, b.Name)
		var was *kernel.VXLANAdd
		if ob := r.old.Bridge(b.Name); ob != nil {
			was = tunnelOp(r.name, ob)
		}
		if was != nil && r.rootOurs(name, mark) && !r.remakeBridge[b.Name] && was.String() == op.String() {
			r.keepTaps[name] = true
			continue
		}
		if r.rootOurs(name, mark) {
			r.dropRoot(name)
		}
		r.tapsAdd = append(r.tapsAdd, op)
		r.tapsIPv6 = append(r.tapsIPv6, name)
	}
}
