package kernel

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"

	"github.com/vishvananda/netlink"
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

// The operations of a reconciling up: they remove or replace what a
// changed topology no longer has. Each tolerates that the object is
// already gone, so that a plan interrupted part-way can run again.

// AddrDel removes an address from an interface.
//
// Equivalent to: ip [-n NS] addr del ADDR dev NAME
type AddrDel struct {
	NS, Name string
	Addr     netip.Prefix
}

func (o *AddrDel) Namespace() string { return o.NS }
func (o *AddrDel) String() string {
	return fmt.Sprintf("%s addr del %s dev %s", ipn(o.NS), o.Addr, o.Name)
}

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

// RouteDel removes a static route.
//
// Equivalent to: ip [-n NS] route del TO [via VIA] [dev DEV] [metric M]
type RouteDel struct {
	RouteAdd
}

func (o *RouteDel) String() string {
	return strings.Replace(o.RouteAdd.String(), " route add ", " route del ", 1)
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

// LinkSet changes the MTU (when not 0) and the MAC address (when set) of
// an interface in place.
//
// Equivalent to: ip [-n NS] link set NAME mtu MTU address MAC
type LinkSet struct {
	NS, Name string
	MTU      int
	MAC      net.HardwareAddr
}

func (o *LinkSet) Namespace() string { return o.NS }
func (o *LinkSet) String() string {
	s := fmt.Sprintf("%s link set %s", ipn(o.NS), o.Name)
	if o.MTU != 0 {
		s += fmt.Sprintf(" mtu %d", o.MTU)
	}
	if o.MAC != nil {
		s += " address " + o.MAC.String()
	}
	return s
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

// NeighFlush deletes the neighbour entries (ARP and NDP) that the kernel
// learnt on an interface; entries set by hand (permanent, noarp) stay.
// A cable joined again starts with none: entries that failed while it was
// cut would fail the first packets.
//
// Equivalent to: ip [-n NS] neigh flush dev NAME
type NeighFlush struct{ NS, Name string }

func (o *NeighFlush) Namespace() string { return o.NS }
func (o *NeighFlush) String() string    { return fmt.Sprintf("%s neigh flush dev %s", ipn(o.NS), o.Name) }

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
