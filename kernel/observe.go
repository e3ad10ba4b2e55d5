package kernel

import (
	"net"
	"net/netip"
)

// State is what nslab observes on the machine: named namespaces and links
// of the root namespace, with their ownership marks.
type State struct {
	// UTSHolder is the file that holds the lab's hostnames (see
	// EnsureUTSHolder), in the caller's state directory; Observe leaves it
	// to the caller. With "" the plan gives nodes no hostname of their own.
	UTSHolder string
	// NoUTSHolder says the lab's nodes have no kept UTS namespaces: their
	// holder (EnsureUTSHolder) is missing, as in a lab made by an older
	// nslab.
	NoUTSHolder bool
	// Namespaces maps every entry of /run/netns to the alias of its
	// loopback, which holds nslab's mark. Entries that were not inspected
	// map to "?"; entries that are not a live namespace map to "".
	Namespaces map[string]string
	// Links are the root namespace's links by kernel name.
	Links map[string]*RootLink
	// Names maps every name and altname in the root namespace to the
	// kernel name of its link.
	Names map[string]string
	// Addrs are the root namespace's global addresses.
	Addrs []HostAddr
	// Routes are the root namespace's routes, but for default routes,
	// the kernel's own (of addresses) and the local table.
	Routes []HostRoute
	// Listeners are the host's sockets on the ports a lab publishes:
	// observed by ObserveListeners, not by Observe.
	Listeners []Listener
	// Stale holds the inspected entries of /run/netns that are no
	// namespace but an empty file with nothing mounted on it: what nslab
	// leaves when it is killed while it creates a namespace (the file
	// exists before the bind mount) or deletes one (after the unmount).
	// They map to "" in Namespaces as well.
	Stale map[string]bool
	// Nodes holds the namespaces observed in full (see ObserveNodes), for
	// a repair; a namespace not in it was not.
	Nodes map[string]*NodeState
	// Firewall is the lab's nftables table as observed (see
	// ObserveFirewall); nil when it was not.
	Firewall *FirewallSeen
	// HostSysctls are the values of the root namespace's settings that
	// nslab sets for a lab's links (see ReadSysctls); nil when not read.
	HostSysctls map[string]string
}

// HostAddr is an address of the root namespace and the link it is on.
type HostAddr struct {
	Prefix netip.Prefix
	Link   string
}

// Unknown is the mark of a namespace that Observe did not inspect.
const Unknown = "?"

// RootLink is a link of the root namespace.
type RootLink struct {
	Name     string
	Alias    string
	AltNames []string
	Type     string
	Index    int
	Master   int
	Group    uint32
	// Up, MTU and MAC are its administrative state and settings.
	Up  bool
	MTU int
	MAC net.HardwareAddr
}

// LinkFacts is a link as status shows it: its operational state (as ip
// link prints it: "up", "down", "lowerlayerdown"…), MTU, MAC and every
// address, link-local included.
type LinkFacts struct {
	State string
	MTU   int
	MAC   net.HardwareAddr
	Addrs []netip.Prefix
	// Master is the bond or vrf the link is enslaved to, "" if none.
	Master string
	// Active is the active member of a bond (in active-backup mode).
	Active string
}
