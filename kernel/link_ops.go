package kernel

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
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
	// VLANFiltering makes the bridge VLAN-aware (vlan_filtering 1): each
	// port forwards the VLANs it is given (BridgeVLANSet), and VLAN 1
	// untagged until told otherwise.
	VLANFiltering bool
}

func (o *BridgeAdd) Namespace() string { return "" }

func (o *BridgeAdd) String() string {
	out := []string{"ip link add " + o.Name + attrs(o.MTU, o.MAC, o.Tags.Group) + " type bridge"}
	if o.VLANFiltering {
		out[0] += " vlan_filtering 1"
	}
	return lines(append(out, o.Tags.render("", o.Name)...)...)
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

// RouteAdd adds a static route in a namespace, of nslab's protocol
// RouteProto.
//
// Equivalent to: ip [-n NS] route add TO [via VIA] [dev DEV] [metric M] [table T] proto 78
type RouteAdd struct {
	NS     string
	To     netip.Prefix
	Via    netip.Addr
	Dev    string
	Metric int
	// Table is the routing table, 0 for main (a vrf's table).
	Table int
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
	if o.Table > 0 {
		s += fmt.Sprintf(" table %d", o.Table)
	}
	return s + fmt.Sprintf(" proto %d", RouteProto)
}

// LinkDel deletes a link; with a veth, its peer goes too. A link that is
// already gone is fine.
//
// Equivalent to: ip [-n NS] link delete NAME
type LinkDel struct {
	NS, Name string
}

func (o *LinkDel) Namespace() string { return o.NS }

func (o *LinkDel) String() string { return fmt.Sprintf("%s link delete %s", ipn(o.NS), o.Name) }

// LinkDown takes a link down; a link that is gone is fine. Down takes a
// lab's bridges down before deleting their ports, so that the ports'
// farewell traffic is not flooded to the ports still there.
//
// Equivalent to: ip [-n NS] link set NAME down
type LinkDown struct {
	NS, Name string
	// Group, when not 0, moves the link to that link group in the same
	// message (down moves a lab's bridges out of the lab's group).
	Group uint32
}

func (o *LinkDown) Namespace() string { return o.NS }

func (o *LinkDown) String() string {
	if o.Group != 0 {
		return fmt.Sprintf("%s link set %s down group %d", ipn(o.NS), o.Name, o.Group)
	}
	return fmt.Sprintf("%s link set %s down", ipn(o.NS), o.Name)
}
