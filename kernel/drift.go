package kernel

import (
	"net"
	"net/netip"
)

// RouteProto is the route protocol nslab gives the routes it adds
// (RTPROT_*, shown as "proto 78" by ip route): a number iproute2's
// rt_protos does not name, so that repair tells nslab's routes from those
// of routing daemons, DHCP, the kernel or a person, and leaves those alone.
const RouteProto = 78

// NodeState is what a node's namespace holds, as a repair compares it
// with the file: its links, their addresses, nslab's routes and the
// values of the sysctls nslab sets.
type NodeState struct {
	// Mark is the alias of its loopback: nslab's mark (see Marker).
	Mark string
	// Links are the namespace's links by name.
	Links map[string]*LinkState
	// Addrs are the addresses of each link by name, link-local included.
	Addrs map[string][]netip.Prefix
	// Routes are the routes of protocol RouteProto, in the main table
	// and the tables of vrfs.
	Routes []Route
	// Sysctls holds the values read of the keys asked for; a key that
	// cannot be read is missing.
	Sysctls map[string]string
}

// LinkState is a link's administrative state and settings.
type LinkState struct {
	Up  bool
	MTU int
	MAC net.HardwareAddr
}

// Route is a route as observed: destination, gateway, device name and
// metric.
type Route struct {
	To     netip.Prefix
	Via    netip.Addr
	Dev    string
	Metric int
	// Table is 0 for the main table, else a vrf's table.
	Table int
}

// FirewallSeen is a lab's nftables table as the kernel has it, reduced to
// what tells whether it is as Apply wrote it: the rules of each chain by
// the comment Apply gives them (a digest of the rule), and the elements
// of the set of links.
type FirewallSeen struct {
	// Present is false when the table is missing.
	Present bool
	// Rules lists, by chain, the comments of its rules in order.
	Rules map[string][]string
	// Links are the elements of the set of the lab's links, sorted.
	Links []string
}
