package plan

import (
	"github.com/nslab/nslab/kernel"
	"github.com/nslab/nslab/topology"
)

// TapName is the kernel name of a lab's tap, what a VM is given (qemu
// -nic tap,ifname=NAME,script=no); its altname is TapAltName.
func TapName(lab, tap string) string {
	return kernelName(kernel.TapPrefix, lab, kernel.KindTap, tap)
}

// TapAltName is the readable name of a tap: "BRIDGE+TAP.LAB".
func TapAltName(lab, bridge, tap string) string { return bridge + "+" + tap + "." + lab }

// tapOp makes a tap as a port of its bridge, with the bridge's MTU.
func tapOp(lab string, t *topology.Tap) *kernel.TapAdd {
	return &kernel.TapAdd{
		Name:   TapName(lab, t.Name),
		Tags:   kernel.Tags{Alias: kernel.Marker(lab, kernel.KindTap, t.Name), AltName: TapAltName(lab, t.Bridge.Name, t.Name), Group: Group(lab)},
		MTU:    t.Bridge.MTU,
		Master: BridgeName(lab, t.Bridge.Name),
		User:   t.User, Group: t.Group,
	}
}

func tapOps(lab *topology.Lab) []kernel.Op {
	var ops []kernel.Op
	for _, t := range lab.Taps() {
		ops = append(ops, tapOp(lab.Name, t))
	}
	return ops
}

// tapNames are the kernel names of the lab's taps.
func tapNames(lab *topology.Lab) []string {
	var out []string
	for _, t := range lab.Taps() {
		out = append(out, TapName(lab.Name, t.Name))
	}
	return out
}

// taps plans the taps of a reconciled lab: a tap is kept when it is
// there, marked as the lab's, on a bridge that is kept, with the same
// bridge, owner and group as before; else it is made (anew). Taps the
// file dropped are deleted with the other root links no cable explains.
// A tap made anew loses the VM that held it open.
func (r *reconciler) taps() {
	r.keepTaps = map[string]bool{}
	for _, t := range r.lab.Taps() {
		name, mark := TapName(r.name, t.Name), r.mark(kernel.KindTap, t.Name)
		var was *topology.Tap
		for _, o := range r.old.Taps() {
			if o.Name == t.Name {
				was = o
			}
		}
		if was != nil && r.rootOurs(name, mark) && !r.remakeBridge[t.Bridge.Name] &&
			tapOp(r.name, was).String() == tapOp(r.name, t).String() {
			r.keepTaps[name] = true
			if t.Bridge.VLANFiltering && was.Bridge.VLANFiltering && was.VLAN != t.VLAN {
				w := &portVLANs{pvid: topology.PortPVID(was.VLAN)}
				if op := vlanSet(name, false, w, t.VLAN, nil); op != nil {
					r.vlanSets = append(r.vlanSets, op)
				}
			}
			continue
		}
		if r.rootOurs(name, mark) {
			r.dropRoot(name)
		}
		r.tapsAdd = append(r.tapsAdd, tapOp(r.name, t))
		r.tapsIPv6 = append(r.tapsIPv6, name)
		if op := tapVLANs(r.name, t); op != nil && !r.remakeBridge[t.Bridge.Name] {
			r.vlanSets = append(r.vlanSets, op)
		}
	}
}
