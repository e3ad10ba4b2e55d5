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

// Tags are the ownership marks nslab puts on a link in the root namespace:
// an alias that names the lab and object, a readable altname, and the
// lab's link group, which lets down delete all of a lab's links at once.
type Tags struct {
	Alias   string
	AltName string
	Group   uint32
}

func (t Tags) render(ns, name string) []string {
	var out []string
	if t.Alias != "" {
		out = append(out, fmt.Sprintf("%s link set %s alias %q", ipn(ns), name, t.Alias))
	}
	if t.AltName != "" {
		out = append(out, fmt.Sprintf("%s link property add dev %s altname %s", ipn(ns), name, shellQuote(t.AltName)))
	}
	return out
}

// shellQuote quotes s for a shell when it has characters a shell would
// act on, such as the '>' of a trunk's altname.
func shellQuote(s string) string {
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("._-:/@%+=,", r)) {
			return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
		}
	}
	return s
}

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

// BridgeAdd creates a bridge in the root namespace and marks it, leaving
// it down: while a lab is built, the chatter of new nodes (IPv6 multicast)
// stops at the ports instead of being flooded to every other port. A
// LinkSetup brings it up at the end. STP stays off, so ports forward at
// once.
//
// Equivalent to: ip link add NAME type bridge
type BridgeAdd struct {
	Name string
	Tags Tags
	MTU  int
	MAC  net.HardwareAddr
}

func (o *BridgeAdd) Namespace() string { return "" }

func (o *BridgeAdd) String() string {
	out := []string{"ip link add " + o.Name + attrs(o.MTU, o.MAC, o.Tags.Group) + " type bridge"}
	return lines(append(out, o.Tags.render("", o.Name)...)...)
}

func (o *BridgeAdd) Apply(c *Conn) error {
	err := c.exec("", bridgeMsg(linkSpec{name: o.Name, mtu: o.MTU, mac: o.MAC, group: o.Tags.Group}))
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

// VethAdd creates a veth pair with each end directly in its namespace:
// Name in NS, PeerName in PeerNS. An end with a Master becomes a port of
// that bridge (its namespace must be the root namespace); see
// PortsIPv6Off for its IPv6.
// Ends in the root namespace carry Tags and come up at once; ends in a
// node come up when their addresses are set (LinkSetup).
//
// Equivalent to: ip [-n NS] link add NAME type veth peer name PEER netns
// PEERNS; ip link set NAME master MASTER up
type VethAdd struct {
	NS, Name string
	// Index is the interface index asked for the end Name; 0 lets the
	// kernel choose. See plan.peerIndex for why a cable between two nodes
	// asks for one.
	Index            int32
	Tags             Tags
	MTU              int
	MAC              net.HardwareAddr
	Master           string
	PeerNS, PeerName string
	PeerTags         Tags
	PeerMAC          net.HardwareAddr
	PeerMaster       string
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
	index := ""
	if o.Index != 0 {
		index = fmt.Sprintf(" index %d", o.Index)
	}
	out := []string{fmt.Sprintf("%s link add %s%s%s type veth %s", ipn(o.NS), o.Name, index, attrs(o.MTU, o.MAC, o.Tags.Group), peer)}
	out = append(out, end(o.NS, o.Name, o.Tags, o.Master, false)...)
	return lines(append(out, end(o.PeerNS, o.PeerName, o.PeerTags, o.PeerMaster, true)...)...)
}

// end renders the set-up of one veth end in the root namespace; the
// group of the peer end needs a command of its own.
func end(ns, name string, t Tags, master string, peer bool) []string {
	if ns != "" {
		return nil
	}
	out := t.render(ns, name)
	if peer && t.Group != 0 {
		out = append(out, fmt.Sprintf("ip link set %s group %d", name, t.Group))
	}
	if master == "" {
		return append(out, fmt.Sprintf("ip link set %s up", name))
	}
	return append(out, fmt.Sprintf("ip link set %s master %s up", name, master))
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
		return c.execIndex(o.NS, vethMsg(self, peer, peerNS, true))
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

// PortsIPv6Off turns IPv6 off on bridge ports of the root namespace, one
// after the other, before any of them has carrier. A port forwards frames
// and needs no IPv6 of its own; with IPv6 on, each port that gets carrier
// adds its own ff00::/8 route to the root namespace's table and makes the
// kernel walk that whole table, which made bringing 10,000 ports up and
// deleting them grow with the square of their number (addrconf_add_mroute,
// rt6_sync_up). One operation for all ports: the kernel serves these
// writes under a trylock of the routing lock and makes a writer that
// misses it retry at once, so writers in parallel mostly spin. A kernel
// without IPv6 is fine.
//
// Equivalent to: sysctl -qw net.ipv6.conf.NAME.disable_ipv6=1 for each
type PortsIPv6Off struct {
	Names []string
}

func (o *PortsIPv6Off) Namespace() string { return "" }

func (o *PortsIPv6Off) String() string {
	out := make([]string, len(o.Names))
	for i, n := range o.Names {
		out[i] = fmt.Sprintf("sysctl -qw net.ipv6.conf.%s.disable_ipv6=1", n)
	}
	return lines(out...)
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

func attrs(mtu int, mac net.HardwareAddr, group uint32) string {
	s := ""
	if mtu > 0 {
		s += fmt.Sprintf(" mtu %d", mtu)
	}
	if mac != nil {
		s += " address " + mac.String()
	}
	if group != 0 {
		s += fmt.Sprintf(" group %d", group)
	}
	return s
}

// LinkSetup brings an existing interface up and adds its addresses,
// without duplicate address detection so they are usable at once.
//
// The link goes up first. The kernel adds the subnet route of an IPv6
// address given to a link that is down only when the link comes up, with
// an allocation that may not sleep; in labs of 10,000 nodes that failed
// now and then, and the kernel then drops the address without a word
// (addrconf_permanent_addr). On a link that is up, the address and its
// route are made at once, and a failure is an error nslab sees.
//
// Equivalent to: ip [-n NS] link set NAME up; ip [-n NS] addr add ADDR dev
// NAME nodad
type LinkSetup struct {
	NS, Name  string
	Addresses []netip.Prefix
}

func (o *LinkSetup) Namespace() string { return o.NS }

func (o *LinkSetup) String() string {
	out := []string{fmt.Sprintf("%s link set %s up", ipn(o.NS), o.Name)}
	for _, a := range o.Addresses {
		out = append(out, fmt.Sprintf("%s addr add %s dev %s%s", ipn(o.NS), a, o.Name, nodad(a)))
	}
	return lines(out...)
}

func nodad(a netip.Prefix) string {
	if a.Addr().Is6() {
		return " nodad"
	}
	return ""
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

// RouteAdd adds a static route in a namespace, of nslab's protocol
// RouteProto.
//
// Equivalent to: ip [-n NS] route add TO [via VIA] [dev DEV] [metric M] proto 78
type RouteAdd struct {
	NS     string
	To     netip.Prefix
	Via    netip.Addr
	Dev    string
	Metric int
	// Replace replaces a route to the same destination and metric, as
	// ip route replace does, when a reconciling up adds it again.
	Replace bool
}

func (o *RouteAdd) Namespace() string { return o.NS }

func (o *RouteAdd) String() string {
	verb := "add"
	if o.Replace {
		verb = "replace"
	}
	s := fmt.Sprintf("%s route %s %s", ipn(o.NS), verb, o.To)
	if o.To.Bits() == 0 {
		s = fmt.Sprintf("%s route %s default", ipn(o.NS), verb)
		if o.To.Addr().Is6() {
			s = fmt.Sprintf("%s -6 route %s default", ipn(o.NS), verb)
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
	return s + fmt.Sprintf(" proto %d", RouteProto)
}

// route is the netlink form of the route, with its namespace's handle.
func (o *RouteAdd) route(c *Conn) (*netlink.Handle, *netlink.Route, error) {
	h, err := c.Handle(o.NS)
	if err != nil {
		return nil, nil, err
	}
	r := &netlink.Route{Dst: ipnet(o.To), Priority: o.Metric, Protocol: RouteProto}
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
	h, l, err := findLink(c, o.NS, o.Name)
	if err != nil || l == nil {
		return err
	}
	c.indexes.Delete(o.NS + "\x00" + o.Name)
	err = h.LinkDel(l)
	if errors.Is(err, unix.ENODEV) {
		return nil
	}
	return opErr(o.NS, "deleting "+o.Name, err)
}

// LinkDown takes a link down; a link that is gone is fine. Down takes a
// lab's bridges down before deleting their ports, so that the ports'
// farewell traffic is not flooded to the ports still there.
//
// Equivalent to: ip [-n NS] link set NAME down
type LinkDown struct {
	NS, Name string
}

func (o *LinkDown) Namespace() string { return o.NS }
func (o *LinkDown) String() string    { return fmt.Sprintf("%s link set %s down", ipn(o.NS), o.Name) }

func (o *LinkDown) Apply(c *Conn) error {
	req, msg := linkMsg(unix.RTM_SETLINK, 0, 0, o.Name)
	msg.Change = unix.IFF_UP
	err := c.exec(o.NS, req)
	if errors.Is(err, unix.ENODEV) {
		return nil
	}
	return opErr(o.NS, "taking "+o.Name+" down", err)
}
