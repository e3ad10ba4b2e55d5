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

// Tags are the ownership marks nslab puts on a link in the root namespace:
// an alias that names the lab and object, and a readable altname.
type Tags struct {
	Alias   string
	AltName string
}

func (t Tags) apply(h *netlink.Handle, l netlink.Link) error {
	if t.Alias != "" {
		if err := h.LinkSetAlias(l, t.Alias); err != nil {
			return fmt.Errorf("setting alias: %w", err)
		}
	}
	if t.AltName != "" {
		if err := h.LinkAddAltName(l, t.AltName); err != nil {
			return fmt.Errorf("adding altname %s: %w", t.AltName, err)
		}
	}
	return nil
}

func (t Tags) render(ns, name string) []string {
	var out []string
	if t.Alias != "" {
		out = append(out, fmt.Sprintf("%s link set %s alias %q", ipn(ns), name, t.Alias))
	}
	if t.AltName != "" {
		out = append(out, fmt.Sprintf("%s link property add dev %s altname %s", ipn(ns), name, t.AltName))
	}
	return out
}

// BridgeAdd creates a bridge in the root namespace, marks it and brings it
// up. STP stays off, so ports forward at once.
//
// Equivalent to: ip link add NAME type bridge; ip link set NAME up
type BridgeAdd struct {
	Name string
	Tags Tags
	MTU  int
	MAC  net.HardwareAddr
}

func (o *BridgeAdd) Namespace() string { return "" }

func (o *BridgeAdd) String() string {
	out := []string{"ip link add " + o.Name + attrs(o.MTU, o.MAC) + " type bridge"}
	out = append(out, o.Tags.render("", o.Name)...)
	return lines(append(out, "ip link set "+o.Name+" up")...)
}

func (o *BridgeAdd) Apply(c *Conn) error {
	h, err := c.Handle("")
	if err != nil {
		return err
	}
	br := &netlink.Bridge{LinkAttrs: netlink.NewLinkAttrs()}
	br.Name, br.MTU, br.HardwareAddr = o.Name, o.MTU, o.MAC
	if err := h.LinkAdd(br); err != nil {
		return opErr("", "creating bridge "+o.Name, err)
	}
	if err := o.Tags.apply(h, br); err != nil {
		return opErr("", "marking bridge "+o.Name, err)
	}
	return opErr("", "bringing bridge "+o.Name+" up", h.LinkSetUp(br))
}

// VethAdd creates a veth pair with each end directly in its namespace:
// Name in NS, PeerName in PeerNS. When Master is set, Name becomes a port
// of that bridge (NS must then be the root namespace) without IPv6 of its
// own, so that a new port neither sends nor floods IPv6 chatter.
//
// Equivalent to: ip [-n NS] link add NAME type veth peer name PEER netns
// PEERNS; ip link set NAME master MASTER up
type VethAdd struct {
	NS, Name         string
	Tags             Tags
	MTU              int
	MAC              net.HardwareAddr
	Master           string
	PeerNS, PeerName string
	PeerMAC          net.HardwareAddr
}

func (o *VethAdd) Namespace() string { return o.NS }

func (o *VethAdd) String() string {
	peer := "peer name " + o.PeerName
	if o.PeerMAC != nil {
		peer += " address " + o.PeerMAC.String()
	}
	if o.PeerNS != "" {
		peer += " netns " + o.PeerNS
	}
	out := []string{fmt.Sprintf("%s link add %s%s type veth %s", ipn(o.NS), o.Name, attrs(o.MTU, o.MAC), peer)}
	out = append(out, o.Tags.render(o.NS, o.Name)...)
	if o.Master != "" {
		out = append(out,
			fmt.Sprintf("%s link set %s addrgenmode none", ipn(o.NS), o.Name),
			fmt.Sprintf("%s link set %s master %s up", ipn(o.NS), o.Name, o.Master))
	}
	return lines(out...)
}

func (o *VethAdd) Apply(c *Conn) error {
	h, err := c.Handle(o.NS)
	if err != nil {
		return err
	}
	peerNS, err := nsFd(o.PeerNS)
	if err != nil {
		return opErr(o.NS, "creating veth "+o.Name, err)
	}
	defer unix.Close(peerNS)
	v := &netlink.Veth{LinkAttrs: netlink.NewLinkAttrs(), PeerName: o.PeerName,
		PeerHardwareAddr: o.PeerMAC, PeerNamespace: netlink.NsFd(peerNS)}
	v.Name, v.MTU, v.HardwareAddr = o.Name, o.MTU, o.MAC
	if err := h.LinkAdd(v); err != nil {
		return opErr(o.NS, fmt.Sprintf("creating veth %s (peer %s in %s)", o.Name, o.PeerName, nsLabel(o.PeerNS)), err)
	}
	if err := o.Tags.apply(h, v); err != nil {
		return opErr(o.NS, "marking "+o.Name, err)
	}
	if o.Master == "" {
		return nil
	}
	return opErr(o.NS, "attaching "+o.Name+" to bridge "+o.Master, o.attach(h, v))
}

func (o *VethAdd) attach(h *netlink.Handle, v *netlink.Veth) error {
	br, err := h.LinkByName(o.Master)
	if err != nil {
		return err
	}
	if err := h.LinkSetIP6AddrGenMode(v, addrGenModeNone); err != nil {
		return fmt.Errorf("turning off IPv6 addresses on the port: %w", err)
	}
	if err := h.LinkSetMasterByIndex(v, br.Attrs().Index); err != nil {
		return err
	}
	return h.LinkSetUp(v)
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

func attrs(mtu int, mac net.HardwareAddr) string {
	s := ""
	if mtu > 0 {
		s += fmt.Sprintf(" mtu %d", mtu)
	}
	if mac != nil {
		s += " address " + mac.String()
	}
	return s
}

// LinkSetup adds addresses to an existing interface, without duplicate
// address detection so they are usable at once, and brings it up.
//
// Equivalent to: ip [-n NS] addr add ADDR dev NAME nodad; ip [-n NS] link
// set NAME up
type LinkSetup struct {
	NS, Name  string
	Addresses []netip.Prefix
}

func (o *LinkSetup) Namespace() string { return o.NS }

func (o *LinkSetup) String() string {
	var out []string
	for _, a := range o.Addresses {
		out = append(out, fmt.Sprintf("%s addr add %s dev %s%s", ipn(o.NS), a, o.Name, nodad(a)))
	}
	return lines(append(out, fmt.Sprintf("%s link set %s up", ipn(o.NS), o.Name))...)
}

func nodad(a netip.Prefix) string {
	if a.Addr().Is6() {
		return " nodad"
	}
	return ""
}

func (o *LinkSetup) Apply(c *Conn) error {
	h, err := c.Handle(o.NS)
	if err != nil {
		return err
	}
	l, err := h.LinkByName(o.Name)
	if err != nil {
		return opErr(o.NS, "finding "+o.Name, err)
	}
	for _, a := range o.Addresses {
		addr := &netlink.Addr{IPNet: ipnet(a), Flags: unix.IFA_F_NODAD}
		if err := h.AddrAdd(l, addr); err != nil {
			return opErr(o.NS, fmt.Sprintf("adding address %s to %s", a, o.Name), err)
		}
	}
	return opErr(o.NS, "bringing "+o.Name+" up", h.LinkSetUp(l))
}

func ipnet(p netip.Prefix) *net.IPNet {
	bits := 32
	if p.Addr().Is6() {
		bits = 128
	}
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), bits)}
}

// RouteAdd adds a static route in a namespace.
//
// Equivalent to: ip [-n NS] route add TO [via VIA] [dev DEV] [metric M]
type RouteAdd struct {
	NS     string
	To     netip.Prefix
	Via    netip.Addr
	Dev    string
	Metric int
}

func (o *RouteAdd) Namespace() string { return o.NS }

func (o *RouteAdd) String() string {
	s := fmt.Sprintf("%s route add %s", ipn(o.NS), o.To)
	if o.To.Bits() == 0 {
		s = fmt.Sprintf("%s route add default", ipn(o.NS))
		if o.To.Addr().Is6() {
			s = fmt.Sprintf("%s -6 route add default", ipn(o.NS))
		}
	}
	if o.Via.IsValid() {
		s += " via " + o.Via.String()
	}
	if o.Dev != "" {
		s += " dev " + o.Dev
	}
	if o.Metric > 0 {
		s += fmt.Sprintf(" metric %d", o.Metric)
	}
	return s
}

func (o *RouteAdd) Apply(c *Conn) error {
	h, err := c.Handle(o.NS)
	if err != nil {
		return err
	}
	r := &netlink.Route{Dst: ipnet(o.To), Priority: o.Metric}
	if o.Via.IsValid() {
		r.Gw = o.Via.AsSlice()
	}
	if o.Dev != "" {
		l, err := h.LinkByName(o.Dev)
		if err != nil {
			return opErr(o.NS, "finding "+o.Dev, err)
		}
		r.LinkIndex = l.Attrs().Index
	}
	return opErr(o.NS, "adding route "+strings.TrimPrefix(o.String(), ipn(o.NS)+" route add "), h.RouteAdd(r))
}

// LinkDel deletes a link; with a veth, its peer goes too. A link that is
// already gone is fine.
//
// Equivalent to: ip [-n NS] link delete NAME
type LinkDel struct {
	NS, Name string
}

func (o *LinkDel) Namespace() string { return o.NS }
func (o *LinkDel) String() string    { return fmt.Sprintf("%s link delete %s", ipn(o.NS), o.Name) }

func (o *LinkDel) Apply(c *Conn) error {
	h, err := c.Handle(o.NS)
	if err != nil {
		return err
	}
	l, err := h.LinkByName(o.Name)
	var notFound netlink.LinkNotFoundError
	if errors.As(err, &notFound) {
		return nil
	}
	if err != nil {
		return opErr(o.NS, "finding "+o.Name, err)
	}
	err = h.LinkDel(l)
	if errors.Is(err, unix.ENODEV) {
		return nil
	}
	return opErr(o.NS, "deleting "+o.Name, err)
}

// addrGenModeNone is IN6_ADDR_GEN_MODE_NONE of linux/if_link.h: no IPv6
// link-local address is generated for the link.
const addrGenModeNone = 1
