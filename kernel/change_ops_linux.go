package kernel

import (
	"errors"
	"fmt"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// findLink finds a link by name in a namespace; a link that is not there
// is no error, and l is nil then.
func findLink(c *Conn, ns, name string) (h *netlink.Handle, l netlink.Link, err error) {
	if h, err = c.Handle(ns); err != nil {
		return nil, nil, err
	}
	l, err = h.LinkByName(name)
	var notFound netlink.LinkNotFoundError
	if errors.As(err, &notFound) {
		return h, nil, nil
	}
	if err != nil {
		return nil, nil, opErr(ns, "finding "+name, err)
	}
	return h, l, nil
}

// Apply of the operations of a reconciling up (change_ops.go). Each
// tolerates that the object is already gone, so that a plan interrupted
// part-way can run again.

func (o *AddrDel) Apply(c *Conn) error {
	h, l, err := findLink(c, o.NS, o.Name)
	if err != nil || l == nil {
		return err
	}
	err = h.AddrDel(l, &netlink.Addr{IPNet: ipnet(o.Addr)})
	if errors.Is(err, unix.EADDRNOTAVAIL) || errors.Is(err, unix.ENOENT) {
		return nil
	}
	return opErr(o.NS, fmt.Sprintf("removing address %s from %s", o.Addr, o.Name), err)
}

func (o *RouteDel) Apply(c *Conn) error {
	h, r, err := o.route(c)
	if h != nil && r == nil {
		return nil // the device went, and its routes with it
	}
	if err != nil {
		return err
	}
	// Any scope, as ip route del does: a route without a gateway has
	// scope link, and the kernel matches the scope a request gives.
	r.Scope = netlink.SCOPE_NOWHERE
	err = h.RouteDel(r)
	if errors.Is(err, unix.ESRCH) || errors.Is(err, unix.ENOENT) {
		return nil
	}
	return opErr(o.NS, "removing route "+o.To.String(), err)
}

func (o *LinkSet) Apply(c *Conn) error {
	h, err := c.Handle(o.NS)
	if err != nil {
		return err
	}
	l, err := h.LinkByName(o.Name)
	if err != nil {
		return opErr(o.NS, "finding "+o.Name, err)
	}
	if o.MTU != 0 {
		if err := h.LinkSetMTU(l, o.MTU); err != nil {
			return opErr(o.NS, fmt.Sprintf("setting the MTU of %s to %d", o.Name, o.MTU), err)
		}
	}
	if o.MAC != nil {
		if err := h.LinkSetHardwareAddr(l, o.MAC); err != nil {
			return opErr(o.NS, fmt.Sprintf("setting the MAC address of %s to %s", o.Name, o.MAC), err)
		}
	}
	return nil
}

func (o *NeighFlush) Apply(c *Conn) error {
	h, l, err := findLink(c, o.NS, o.Name)
	if err != nil || l == nil {
		return err
	}
	for _, fam := range []int{netlink.FAMILY_V4, netlink.FAMILY_V6} {
		ns, err := h.NeighList(l.Attrs().Index, fam)
		if err != nil {
			return opErr(o.NS, "listing the neighbours of "+o.Name, err)
		}
		for i := range ns {
			if ns[i].State&(netlink.NUD_PERMANENT|netlink.NUD_NOARP) != 0 {
				continue
			}
			if err := h.NeighDel(&ns[i]); err != nil && !errors.Is(err, unix.ENOENT) {
				return opErr(o.NS, fmt.Sprintf("deleting neighbour %s of %s", ns[i].IP, o.Name), err)
			}
		}
	}
	return nil
}

// ForgetNeighbours deletes the neighbour entries (ARP and NDP) that the
// kernel learnt in the namespace at nsPath, on every link, as a prober
// does before it measures: entries set by hand (permanent, noarp) or
// learnt from outside the kernel (extern_learn) stay.
//
// Equivalent to: ip -n NS neigh flush all
func ForgetNeighbours(nsPath string) error {
	ns, err := netns.GetFromPath(nsPath)
	if err != nil {
		return fmt.Errorf("opening %s: %w", nsPath, err)
	}
	defer ns.Close()
	h, err := netlink.NewHandleAt(ns, unix.NETLINK_ROUTE)
	if err != nil {
		return fmt.Errorf("netlink in %s: %w", nsPath, err)
	}
	defer h.Close()
	return forgetNeighbours(h, nsPath)
}

// forgetNeighbours is ForgetNeighbours through a handle.
func forgetNeighbours(h *netlink.Handle, nsPath string) error {
	for _, fam := range []int{netlink.FAMILY_V4, netlink.FAMILY_V6} {
		ns, err := h.NeighList(0, fam)
		if err != nil {
			return fmt.Errorf("listing neighbours in %s: %w", nsPath, err)
		}
		for i := range ns {
			if ns[i].State&(netlink.NUD_PERMANENT|netlink.NUD_NOARP) != 0 || ns[i].Flags&netlink.NTF_EXT_LEARNED != 0 {
				continue
			}
			if err := h.NeighDel(&ns[i]); err != nil && err != unix.ENOENT {
				return fmt.Errorf("deleting neighbour %s in %s: %w", ns[i].IP, nsPath, err)
			}
		}
	}
	return nil
}

func (o *PortAttach) Apply(c *Conn) error {
	h, l, err := findLink(c, "", o.Name)
	if err != nil || l == nil {
		return err
	}
	br, err := h.LinkByName(o.Bridge)
	if err != nil {
		return opErr("", fmt.Sprintf("attaching %s to bridge %s: finding the bridge", o.Name, o.Bridge), err)
	}
	if err := h.LinkSetMasterByIndex(l, br.Attrs().Index); err != nil {
		return opErr("", fmt.Sprintf("attaching %s to bridge %s", o.Name, o.Bridge), err)
	}
	return nil
}
