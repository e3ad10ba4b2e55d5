package kernel

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// mark gives a link, by index or else by name, its altname; the alias
// comes with bringing it up.
func (t Tags) mark(c *Conn, ns string, index int32, name string) error {
	if t.AltName == "" {
		return nil
	}
	if err := c.exec(ns, altNameMsg(index, name, t.AltName)); err != nil {
		return fmt.Errorf("adding altname %s: %w", t.AltName, err)
	}
	return nil
}

func (o *BridgeAdd) Apply(c *Conn) error {
	err := c.exec("", bridgeMsg(linkSpec{name: o.Name, mtu: o.MTU, mac: o.MAC, group: o.Tags.Group}, o.VLANFiltering))
	if err != nil && o.VLANFiltering && errors.Is(err, unix.EOPNOTSUPP) {
		err = fmt.Errorf("%w (%s)", err, BridgeVLANAdvice)
	}
	if err != nil {
		return opErr("", "creating bridge "+o.Name, err)
	}
	if err := o.Tags.mark(c, "", 0, o.Name); err != nil {
		return opErr("", "marking bridge "+o.Name, err)
	}
	req, _ := linkMsg(unix.RTM_SETLINK, 0, 0, o.Name)
	req.AddData(nl.NewRtAttr(unix.IFLA_IFALIAS, []byte(o.Tags.Alias)))
	return opErr("", "marking bridge "+o.Name, c.exec("", req))
}

func (o *VethAdd) Apply(c *Conn) error {
	index, err := o.create(c)
	if err != nil {
		return opErr(o.NS, fmt.Sprintf("creating veth %s (peer %s in %s)", o.Name, o.PeerName, nsLabel(o.PeerNS)), err)
	}
	if err := setUpEnd(c, o.NS, index, o.Name, o.Tags, o.Master, false); err != nil {
		return err
	}
	return setUpEnd(c, o.PeerNS, 0, o.PeerName, o.PeerTags, o.PeerMaster, true)
}

// create makes the pair; an end in the root namespace comes up at once,
// and its index is returned.
func (o *VethAdd) create(c *Conn) (int32, error) {
	peerNS, err := nsFd(o.PeerNS)
	if err != nil {
		return 0, err
	}
	defer unix.Close(peerNS)
	self := linkSpec{index: o.Index, name: o.Name, mtu: o.MTU, mac: o.MAC, group: o.Tags.Group}
	peer := linkSpec{name: o.PeerName, mtu: o.MTU, mac: o.PeerMAC, group: o.PeerTags.Group}
	if self.master, err = c.masterIndex(o.NS, o.Master); err != nil {
		return 0, err
	}
	if o.NS == "" {
		index, err := c.execIndex(o.NS, vethMsg(self, peer, peerNS, true))
		if errors.Is(err, errNoEcho) {
			return c.index(o.NS, o.Name) // made, but not echoed: look it up
		}
		return index, err
	}
	return 0, c.exec(o.NS, vethMsg(self, peer, peerNS, false))
}

// setUpEnd marks an end in the root namespace, attaches it to its bridge
// unless the creating message did (withMaster) and brings it up; node
// ends are left to LinkSetup.
func setUpEnd(c *Conn, ns string, index int32, name string, t Tags, master string, withMaster bool) error {
	if ns != "" {
		return nil
	}
	if err := t.mark(c, ns, index, name); err != nil {
		return opErr(ns, "marking "+name, err)
	}
	var idx int32
	if withMaster {
		var err error
		if idx, err = c.masterIndex(ns, master); err != nil {
			return opErr(ns, "attaching "+name, err)
		}
	}
	byName := name
	if index != 0 {
		byName = ""
	}
	return opErr(ns, "bringing "+name+" up", c.exec(ns, setUpMsg(index, byName, t.Alias, idx)))
}

func (o *PortsIPv6Off) Apply(*Conn) error {
	if _, err := os.Stat("/proc/sys/net/ipv6"); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	for _, n := range o.Names {
		if err := os.WriteFile("/proc/sys/net/ipv6/conf/"+n+"/disable_ipv6", []byte("1"), 0o644); err != nil {
			return opErr("", "turning IPv6 off on "+n, err)
		}
	}
	return nil
}

// masterIndex resolves a bridge by name; "" is no bridge.
func (c *Conn) masterIndex(ns, name string) (int32, error) {
	if name == "" {
		return 0, nil
	}
	idx, err := c.index(ns, name)
	if err != nil {
		return 0, fmt.Errorf("finding bridge %s: %w", name, err)
	}
	return idx, nil
}

func nsLabel(ns string) string {
	if ns == "" {
		return "host"
	}
	return ns
}

// nsFd opens a namespace by name ("" is the caller's own namespace).
func nsFd(ns string) (int, error) {
	path := "/proc/self/ns/net"
	if ns != "" {
		path = NetnsPath(ns)
	}
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("opening namespace %s: %w", nsLabel(ns), err)
	}
	return fd, nil
}

func (o *LinkSetup) Apply(c *Conn) error {
	idx, err := c.index(o.NS, o.Name)
	if err != nil {
		return opErr(o.NS, "finding "+o.Name, err)
	}
	if err := c.exec(o.NS, setUpMsg(idx, "", "", 0)); err != nil {
		return opErr(o.NS, "bringing "+o.Name+" up", err)
	}
	for _, a := range o.Addresses {
		if err := c.exec(o.NS, addrMsg(idx, a)); err != nil {
			return opErr(o.NS, fmt.Sprintf("adding address %s to %s", a, o.Name), err)
		}
	}
	return nil
}

func ipnet(p netip.Prefix) *net.IPNet {
	bits := 32
	if p.Addr().Is6() {
		bits = 128
	}
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), bits)}
}

// route is the netlink form of the route, with its namespace's handle.
func (o *RouteAdd) route(c *Conn) (*netlink.Handle, *netlink.Route, error) {
	h, err := c.Handle(o.NS)
	if err != nil {
		return nil, nil, err
	}
	r := &netlink.Route{Dst: ipnet(o.To), Priority: o.Metric, Protocol: RouteProto, Table: o.Table}
	if o.Via.IsValid() {
		r.Gw = o.Via.AsSlice()
	}
	if o.Dev != "" {
		l, err := h.LinkByName(o.Dev)
		if err != nil {
			return h, nil, opErr(o.NS, "finding "+o.Dev, err)
		}
		r.LinkIndex = l.Attrs().Index
	}
	return h, r, nil
}

func (o *RouteAdd) Apply(c *Conn) error {
	h, r, err := o.route(c)
	if err != nil {
		return err
	}
	desc := "adding route " + strings.TrimPrefix(strings.TrimPrefix(o.String(), ipn(o.NS)+" "), "route add ")
	if o.Replace {
		return opErr(o.NS, desc, h.RouteReplace(r))
	}
	return opErr(o.NS, desc, addRoute(h, r))
}

// addRoute adds a route, waiting a little while its gateway is not yet
// reachable: IPv6 installs the subnet route of an address only once the
// kernel has processed the link's carrier, which lags behind its
// operational state when tens of thousands of links change at once.
func addRoute(h *netlink.Handle, r *netlink.Route) error {
	var err error
	for i := range 20 {
		err = h.RouteAdd(r)
		if !errors.Is(err, unix.EHOSTUNREACH) && !errors.Is(err, unix.ENETUNREACH) {
			return err
		}
		if i == 0 && r.Gw.To4() == nil {
			repairPrefixRoutes(h)
		}
		time.Sleep(time.Duration(i+1) * 5 * time.Millisecond)
	}
	return err
}

// repairPrefixRoutes adds the subnet route of every global IPv6 address of
// the namespace where it is missing. In labs of 10,000 nodes the kernel
// was seen to keep an address added before its link came up without its
// subnet route, for good.
//
// Equivalent to: ip -6 route add PREFIX dev DEV proto kernel metric 256
func repairPrefixRoutes(h *netlink.Handle) {
	addrs, err := h.AddrList(nil, netlink.FAMILY_V6)
	if err != nil {
		return
	}
	for _, a := range addrs {
		if a.Scope != int(netlink.SCOPE_UNIVERSE) || a.IPNet == nil {
			continue
		}
		dst := &net.IPNet{IP: a.IP.Mask(a.Mask), Mask: a.Mask}
		h.RouteAdd(&netlink.Route{LinkIndex: a.LinkIndex, Dst: dst, Protocol: unix.RTPROT_KERNEL, Priority: 256})
	}
}

func (o *LinkDel) Apply(c *Conn) error {
	h, l, err := findLink(c, o.NS, o.Name)
	if err != nil || l == nil {
		return err
	}
	c.indexes.delete(o.NS, o.Name)
	err = h.LinkDel(l)
	if errors.Is(err, unix.ENODEV) {
		return nil
	}
	return opErr(o.NS, "deleting "+o.Name, err)
}

func (o *LinkDown) Apply(c *Conn) error {
	req, msg := linkMsg(unix.RTM_SETLINK, 0, 0, o.Name)
	msg.Change = unix.IFF_UP
	if o.Group != 0 {
		req.AddData(nl.NewRtAttr(unix.IFLA_GROUP, nl.Uint32Attr(o.Group)))
	}
	err := c.exec(o.NS, req)
	if errors.Is(err, unix.ENODEV) {
		return nil
	}
	return opErr(o.NS, "taking "+o.Name+" down", err)
}
