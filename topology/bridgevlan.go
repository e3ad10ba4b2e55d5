package topology

import (
	"fmt"
	"slices"
)

// VLAN-aware bridges. A node's port on a bridge may carry VLANs:
//
//	eth0: {link: sw1, vlan: 10}          # access: untagged, in VLAN 10 (PVID 10)
//	eth0: {link: sw1, vlans: [10, 20]}   # trunk: tagged 10 and 20; untagged frames in VLAN 1
//	eth0: {link: sw1, vlan: 30, vlans: [10, 20]}  # native 30 untagged, 10 and 20 tagged
//
// A trunk between two bridges carries the VLANs its link's bridge lists
// (bridges: {sw2: {link: sw1, vlans: [10, 20]}}), tagged, and VLAN 1
// untagged. The bridge's own host side joins one VLAN untagged with
// vlan: N. A bridge tree with any of these keys is VLAN-filtering; a
// port or host side without vlan stays in VLAN 1, the kernel's default.

// DefaultVLAN is the VLAN of untagged frames on a port without vlan: the
// kernel's default PVID.
const DefaultVLAN = 1

// MaxVLAN is the largest VLAN id (0 and 4095 are reserved by 802.1Q).
const MaxVLAN = 4094

// vlanDecl is what the file says of a port's or a bridge's VLANs.
type vlanDecl struct {
	pvid    int
	pvidPos Pos
	tagged  []int
	tagPos  []Pos
	listPos Pos
}

func (p *parser) decodePVID(v *vlanDecl, e entry, path string) {
	v.pvid, v.pvidPos, _ = p.integer(e.val, path, 1, MaxVLAN)
	if v.pvidPos.Line == 0 {
		v.pvidPos = e.keyPos
	}
}

func (p *parser) decodeTagged(v *vlanDecl, e entry, path string) {
	v.listPos = e.keyPos
	for i, n := range p.list(e.val, path, true) {
		id, pos, ok := p.integer(n, listPath(path, i), 1, MaxVLAN)
		if !ok {
			continue
		}
		if j := slices.Index(v.tagged, id); j >= 0 {
			p.errorf(pos, "%s: VLAN %d is listed twice (first at %s)", path, id, v.tagPos[j])
			continue
		}
		v.tagged = append(v.tagged, id)
		v.tagPos = append(v.tagPos, pos)
	}
}

// set puts the VLANs in the model and checks that the native VLAN is not
// also tagged.
func (p *parser) setVLANs(v *vlanDecl, pvid *int, tagged *[]int, what string) {
	if j := slices.Index(v.tagged, v.pvid); v.pvid != 0 && j >= 0 {
		p.errorf(v.tagPos[j], "%s: VLAN %d is its untagged vlan (at %s) and tagged too: a VLAN is one or the other on a port", what, v.pvid, v.pvidPos)
	}
	*pvid = v.pvid
	*tagged = slices.Sorted(slices.Values(v.tagged))
}

// HasVLANs reports whether the interface's port carries VLAN settings.
func (i *Interface) HasVLANs() bool { return i.PVID != 0 || len(i.Tagged) > 0 }

// PortPVID is the VLAN of the untagged frames of a port: its vlan, or
// DefaultVLAN.
func PortPVID(pvid int) int {
	if pvid == 0 {
		return DefaultVLAN
	}
	return pvid
}

// checkBridgeVLANs checks where the VLAN keys are (a bridge's port, a
// bridge with a trunk) and makes every bridge of a tree with VLANs
// VLAN-filtering.
func (p *parser) checkBridgeVLANs() {
	filtering := map[*Bridge]bool{}
	root := p.lab.bridgeRoots()
	for _, d := range p.allIfaces() {
		if !d.it.HasVLANs() {
			continue
		}
		p.setVLANs(&d.vlans, &d.it.PVID, &d.it.Tagged, d.it.Ref())
		pos := d.vlans.pvidPos
		if pos.Line == 0 {
			pos = d.vlans.listPos
		}
		d.it.VLANPos = pos
		if d.it.Link == nil || d.it.Link.Kind != Port {
			p.errorf(pos, "%s: vlan and vlans are for a port of a bridge (link: BRIDGE); on a cable between two nodes, tag with a vlan sub-interface (kind: vlan) at each end", d.it.Ref())
			continue
		}
		filtering[root[d.it.Link.Bridge]] = true
	}
	for _, d := range p.bridges {
		for _, t := range d.b.Taps {
			if t.VLAN != 0 {
				filtering[root[d.b]] = true
			}
		}
		if len(d.b.Tagged) > 0 && d.link == "" {
			p.errorf(d.vlans.listPos, "bridge %s: vlans lists the VLANs of its trunk, and it has none: add link: BRIDGE, or put the vlans on the ports", d.b.Name)
		}
		if d.b.PVID != 0 || len(d.b.Tagged) > 0 {
			filtering[root[d.b]] = true
			d.b.VLANPos = d.vlans.pvidPos
			if d.b.VLANPos.Line == 0 {
				d.b.VLANPos = d.vlans.listPos
			}
		}
	}
	for _, b := range p.lab.Bridges {
		b.VLANFiltering = filtering[root[b]]
	}
	p.checkTagsCarried()
}

// checkTagsCarried: a vlan sub-interface on a port of a VLAN-filtering
// bridge needs the port to carry its VLAN tagged, or the bridge drops
// its frames.
func (p *parser) checkTagsCarried() {
	for _, nd := range p.nodeList {
		for _, d := range nd.ifaces {
			it := d.it
			if it.Kind != KindVLAN || it.Protocol != VLAN8021Q {
				continue
			}
			par := nd.n.Interface(it.Parent)
			if par == nil || par.Link == nil || par.Link.Kind != Port || !par.Link.Bridge.VLANFiltering || slices.Contains(par.Tagged, it.VLAN) {
				continue
			}
			p.errorf(it.KindPos, "%s: VLAN %d rides on %s, a port of bridge %s, which filters VLANs and does not let VLAN %d through that port tagged: add %d to the vlans of %s",
				it.Ref(), it.VLAN, par.Ref(), par.Link.Bridge.Name, it.VLAN, it.VLAN, par.Ref())
		}
	}
}

// VLANName names a VLAN segment of a bridge tree.
func VLANName(tree string, vlan int) string { return fmt.Sprintf("%s vlan %d", tree, vlan) }

// PVIDOf is the interface's vlan, 0 for none or a nil interface.
func (i *Interface) PVIDOf() int {
	if i == nil {
		return 0
	}
	return i.PVID
}
