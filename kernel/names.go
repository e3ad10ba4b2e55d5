package kernel

import "strings"

// The names and marks by which nslab knows the objects it made, defined
// here alone: plan derives the names of a lab's objects from them, lab
// and check find a lab's objects by them, and tests look for leftovers
// with them.

// MarkerPrefix starts every alias nslab sets on the objects it owns.
const MarkerPrefix = "nslab:"

// Marker returns the ownership mark of an object of a lab, as
// "nslab:LAB:KIND:NAME".
func Marker(lab, kind, name string) string {
	return MarkerPrefix + lab + ":" + kind + ":" + name
}

// ParseMarker splits a mark made by Marker; ok is false for anything else.
func ParseMarker(s string) (lab, kind, name string, ok bool) {
	rest, found := strings.CutPrefix(s, MarkerPrefix)
	if !found {
		return "", "", "", false
	}
	parts := strings.SplitN(rest, ":", 3)
	if len(parts) != 3 || parts[0] == "" {
		return "", "", "", false
	}
	return parts[0], parts[1], parts[2], true
}

// Kinds of object in ownership marks: the KIND of a Marker.
const (
	KindNode   = "node"
	KindBridge = "bridge"
	KindPort   = "port"
	KindHost   = "host"
	KindTrunk  = "trunk"
	KindTap    = "tap"
	// KindTunnel is the VXLAN port of a bridge whose segment spans
	// machines.
	KindTunnel = "tunnel"
)

// Prefixes of the kernel names of a lab's links in the root namespace
// (plan.BridgeName and the like add a hash of lab and object). No name
// a person gives a link is expected to start with them; the lab's
// firewall tells the labs' links from the host's other links by them.
const (
	BridgePrefix = "nb-"
	PortPrefix   = "np-"
	HostPrefix   = "nh-"
	TrunkPrefix  = "nt-"
	// TapPrefix starts a tap's name: a bridge port whose other side is
	// a virtual machine, not a link of the lab's firewall.
	TapPrefix = "nv-"
	// TunnelPrefix starts the name of a VXLAN port that carries a
	// bridge's segment to other machines; not a link of the firewall.
	TunnelPrefix = "nx-"
)

// NamePrefixes lists the prefixes of the kernel names of labs' links.
func NamePrefixes() []string { return []string{BridgePrefix, PortPrefix, HostPrefix, TrunkPrefix} }

// TablePrefix starts the name of every nftables table nslab makes in the
// root namespace: TableName. ownerPrefix starts its owner chain's.
const (
	TablePrefix = "nslab-"
	ownerPrefix = "nslab-owner-"
)

// TableName is the name of a lab's nftables table.
func TableName(lab string) string { return TablePrefix + lab }

// ownerChain marks a table as nslab's: a chain without a hook, named
// after the lab.
func ownerChain(lab string) string { return ownerPrefix + lab }

// PartitionTable is the nftables table in a node's namespace that keeps
// it apart from the nodes of other groups of a partition.
const PartitionTable = "nslab-partition"
