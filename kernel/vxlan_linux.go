package kernel

import (
	"errors"
	"fmt"
	"net"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

func (o *VXLANAdd) Apply(c *Conn) error {
	h, err := c.Handle(o.NS)
	if err != nil {
		return opErr(o.NS, "creating vxlan "+o.Name, err)
	}
	vx := &netlink.Vxlan{
		LinkAttrs: netlink.LinkAttrs{Name: o.Name, MTU: o.MTU, HardwareAddr: o.MAC},
		VxlanId:   o.VNI,
		SrcAddr:   o.Local.AsSlice(),
		Port:      o.port(),
		Learning:  true,
	}
	over := "by the route to its remotes"
	if o.Dev != "" {
		dev, err := h.LinkByName(o.Dev)
		if err != nil {
			return opErr(o.NS, fmt.Sprintf("creating vxlan %s: finding its underlay %s", o.Name, o.Dev), err)
		}
		vx.VtepDevIndex, over = dev.Attrs().Index, "over "+o.Dev
	}
	if err := h.LinkAdd(vx); err != nil {
		return opErr(o.NS, fmt.Sprintf("creating vxlan %s (vni %d %s, local %s)", o.Name, o.VNI, over, o.Local), err)
	}
	for _, r := range o.Remotes {
		if err := h.NeighAppend(fdbAllZeros(vx.Attrs().Index, r.AsSlice())); err != nil {
			return opErr(o.NS, fmt.Sprintf("adding remote %s to vxlan %s", r, o.Name), err)
		}
	}
	if o.Master != "" && o.NS == "" {
		if err := h.LinkSetGroup(vx, int(o.Tags.Group)); err != nil {
			return opErr("", "marking vxlan "+o.Name, err)
		}
		return setUpEnd(c, "", int32(vx.Attrs().Index), o.Name, o.Tags, o.Master, true)
	}
	return nil
}

// fdbAllZeros is the FDB entry that sends a VXLAN device's broadcast and
// unknown frames to one remote.
func fdbAllZeros(index int, remote net.IP) *netlink.Neigh {
	return &netlink.Neigh{
		LinkIndex:    index,
		Family:       unix.AF_BRIDGE,
		Flags:        netlink.NTF_SELF,
		State:        netlink.NUD_PERMANENT | netlink.NUD_NOARP,
		HardwareAddr: make(net.HardwareAddr, 6),
		IP:           remote,
	}
}

// VXLANRemotes returns the remotes of a VXLAN device's all-zeros FDB
// entries: the tunnel ends its flooded frames go to.
//
// Equivalent to: bridge [-n NS] fdb show dev NAME | grep ^00:00:00:00:00:00
func VXLANRemotes(c *Conn, ns, name string) ([]net.IP, error) {
	h, err := c.Handle(ns)
	if err != nil {
		return nil, err
	}
	l, err := h.LinkByName(name)
	if err != nil {
		return nil, opErr(ns, "finding vxlan "+name, err)
	}
	neighs, err := retryDump(func() ([]netlink.Neigh, error) { return h.NeighList(l.Attrs().Index, unix.AF_BRIDGE) })
	if err != nil {
		return nil, opErr(ns, "listing the fdb of "+name, err)
	}
	var out []net.IP
	for _, n := range neighs {
		if n.IP != nil && n.HardwareAddr.String() == "00:00:00:00:00:00" {
			out = append(out, n.IP)
		}
	}
	return out, nil
}

func (o *VXLANRemotesSet) Apply(c *Conn) error {
	h, err := c.Handle(o.NS)
	if err != nil {
		return opErr(o.NS, "changing the remotes of vxlan "+o.Name, err)
	}
	l, err := h.LinkByName(o.Name)
	if err != nil {
		return opErr(o.NS, "finding vxlan "+o.Name, err)
	}
	for _, r := range o.Add {
		if err := h.NeighAppend(fdbAllZeros(l.Attrs().Index, r.AsSlice())); err != nil && !errors.Is(err, unix.EEXIST) {
			return opErr(o.NS, fmt.Sprintf("adding remote %s to vxlan %s", r, o.Name), err)
		}
	}
	for _, r := range o.Del {
		if err := h.NeighDel(fdbAllZeros(l.Attrs().Index, r.AsSlice())); err != nil && !errors.Is(err, unix.ENOENT) {
			return opErr(o.NS, fmt.Sprintf("removing remote %s from vxlan %s", r, o.Name), err)
		}
	}
	return nil
}
