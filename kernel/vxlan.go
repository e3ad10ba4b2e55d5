package kernel

import (
	"fmt"
	"net"
	"net/netip"
)

// VXLANPort is the IANA port of VXLAN, the default destination port.
const VXLANPort = 4789

// VXLANOverhead is what VXLAN adds to each frame it carries over an
// underlay of the given family: outer IP header (20 or 40 bytes), UDP (8),
// VXLAN (8) and the inner Ethernet header (14). A VXLAN device's MTU is at
// most its underlay's MTU minus this.
func VXLANOverhead(ipv6 bool) int {
	if ipv6 {
		return 70
	}
	return 50
}

// VXLANAdd creates a VXLAN device in a namespace, with a static list of
// remote tunnel ends: one all-zeros FDB entry per remote, so that
// broadcast, unknown unicast and multicast frames are copied to each
// (head-end replication), and learning on, so that unicast frames go to
// the one remote behind their MAC once it has spoken. No multicast group
// is used. The device is left down; LinkSetup brings it up with its
// addresses.
//
// This is the building block of overlay segments inside a lab and of
// labs spread over several hosts: it knows nothing of topologies.
//
// Equivalent to: ip [-n NS] link add NAME type vxlan id VNI local LOCAL
// dev DEV dstport PORT [mtu MTU]; bridge [-n NS] fdb append
// 00:00:00:00:00:00 dev NAME dst REMOTE (for each remote)
type VXLANAdd struct {
	NS, Name string
	// VNI is the VXLAN network identifier, 1 to 16777215.
	VNI int
	// Port is the UDP destination port (and the port the device listens
	// on); 0 is VXLANPort.
	Port int
	// Local is the source address of the tunnel, an address of Dev.
	Local netip.Addr
	// Dev is the underlay interface the tunnel's packets leave by; ""
	// lets the route to each remote decide (a tunnel between machines).
	Dev string
	// MTU of the device; 0 leaves the kernel's choice (Dev's MTU minus
	// the overhead).
	MTU int
	MAC net.HardwareAddr
	// Remotes are the other tunnel ends, of Local's family.
	Remotes []netip.Addr
	// Master, in the root namespace, makes the device a port of that
	// bridge, marked with Tags and up: the tunnel of a segment between
	// machines. Without it the device is left down.
	Master string
	Tags   Tags
}

func (o *VXLANAdd) Namespace() string { return o.NS }

func (o *VXLANAdd) port() int {
	if o.Port == 0 {
		return VXLANPort
	}
	return o.Port
}

func (o *VXLANAdd) String() string {
	s := fmt.Sprintf("%s link add %s%s", ipn(o.NS), o.Name, attrs(o.MTU, o.MAC, 0))
	s += fmt.Sprintf(" type vxlan id %d local %s", o.VNI, o.Local)
	if o.Dev != "" {
		s += " dev " + o.Dev
	}
	s += fmt.Sprintf(" dstport %d", o.port())
	out := []string{s}
	for _, r := range o.Remotes {
		out = append(out, fmt.Sprintf("%s fdb append 00:00:00:00:00:00 dev %s dst %s", bridgeN(o.NS), o.Name, r))
	}
	if o.Master != "" {
		out = append(out, o.Tags.render(o.NS, o.Name)...)
		out = append(out, fmt.Sprintf("%s link set %s master %s up", ipn(o.NS), o.Name, o.Master))
	}
	return lines(out...)
}

// bridgeN is the bridge command for a namespace.
func bridgeN(ns string) string {
	if ns == "" {
		return "bridge"
	}
	return "bridge -n " + ns
}

// VXLANRemotesSet changes the static remotes of an existing VXLAN device
// in place (its other settings are fixed at creation): traffic to the
// remotes that stay goes on. A remote added twice or deleted when absent
// is fine.
//
// Equivalent to: bridge [-n NS] fdb append 00:00:00:00:00:00 dev NAME dst
// ADD; bridge [-n NS] fdb del 00:00:00:00:00:00 dev NAME dst DEL
type VXLANRemotesSet struct {
	NS, Name string
	Add, Del []netip.Addr
}

func (o *VXLANRemotesSet) Namespace() string { return o.NS }

func (o *VXLANRemotesSet) String() string {
	var out []string
	for _, r := range o.Add {
		out = append(out, fmt.Sprintf("%s fdb append 00:00:00:00:00:00 dev %s dst %s", bridgeN(o.NS), o.Name, r))
	}
	for _, r := range o.Del {
		out = append(out, fmt.Sprintf("%s fdb del 00:00:00:00:00:00 dev %s dst %s", bridgeN(o.NS), o.Name, r))
	}
	return lines(out...)
}
