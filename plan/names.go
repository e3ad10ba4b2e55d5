package plan

import (
	"crypto/sha256"
	"encoding/base32"
	"encoding/binary"
	"net"
	"strings"

	"github.com/nslab/nslab/kernel"
	"github.com/nslab/nslab/topology"
)

// NetnsName is the name under /run/netns of a lab's node: "LAB.NODE".
// Lab and node names cannot contain dots, so the split is unambiguous.
func NetnsName(lab, node string) string { return lab + "." + node }

// SplitNetnsName undoes NetnsName.
func SplitNetnsName(ns string) (lab, node string, ok bool) {
	return strings.Cut(ns, ".")
}

var b32 = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// kernelName derives a short, stable interface name for an object in the
// root namespace: a kind prefix and 50 bits of a hash of lab and object,
// 13 bytes in all, within the kernel's 15.
func kernelName(prefix, lab, kind, name string) string {
	sum := sha256.Sum256([]byte(lab + "\x00" + kind + "\x00" + name))
	return prefix + b32.EncodeToString(sum[:])[:10]
}

// BridgeName is the kernel name of a lab's bridge; its altname is
// BridgeAltName.
func BridgeName(lab, bridge string) string {
	return kernelName(kernel.BridgePrefix, lab, kernel.KindBridge, bridge)
}

// Altnames are readable names of root links, the name first and the lab
// last, as in a host name: "br0.seed", "h1.eth0.seed". The kernel hashes
// only the first 16 bytes of a name (IFNAMSIZ) into its 256 buckets: with
// the lab first, every port of a lab whose name is 15 bytes or more fell
// in one bucket, and adding each altname compared it with all the others
// (24 of the 56 s of CPU of a 10,104-node up of "leaf-spine-4-100-100").

// BridgeAltName is the readable name of a lab's bridge: "BRIDGE.LAB".
func BridgeAltName(lab, bridge string) string { return bridge + "." + lab }

// PortName is the kernel name of the root end of a node's cable to a bridge.
func PortName(lab, node, iface string) string {
	return kernelName(kernel.PortPrefix, lab, kernel.KindPort, node+":"+iface)
}

// PortAltName is the readable name of a bridge port: "NODE.IFACE.LAB".
func PortAltName(lab, node, iface string) string { return node + "." + iface + "." + lab }

// HostIfName is the kernel name of a host interface of a lab.
func HostIfName(lab, name string) string {
	return kernelName(kernel.HostPrefix, lab, kernel.KindHost, name)
}

// HostIfAltName is the readable name of a host interface: "host.NAME.LAB".
func HostIfAltName(lab, name string) string { return topology.HostNode + "." + name + "." + lab }

// BridgeMAC is a stable, locally administered MAC for a lab's bridge, so
// that the bridge address does not follow its ports as they come and go.
func BridgeMAC(lab, bridge string) net.HardwareAddr {
	sum := sha256.Sum256([]byte(lab + "\x00mac\x00" + bridge))
	mac := net.HardwareAddr(sum[:6])
	mac[0] = mac[0]&0xfc | 0x02
	return mac
}

// Group is the link group of a lab's links in the root namespace, so that
// down can delete them in one batch: a number from a hash of the lab
// name, away from the small numbers people give groups by hand.
func Group(lab string) uint32 {
	sum := sha256.Sum256([]byte(lab + "\x00group"))
	return 1<<20 + binary.BigEndian.Uint32(sum[:4])%(1<<30)
}

// BridgeGroup is the link group a lab's bridges move to as down takes
// them down, so that they go after the lab's other links, emptied (see
// Down).
func BridgeGroup(lab string) uint32 {
	sum := sha256.Sum256([]byte(lab + "\x00bridges"))
	return 1<<20 + binary.BigEndian.Uint32(sum[:4])%(1<<30)
}

// TrunkName is the kernel name of one end of the trunk that joins bridge
// to its uplink bridge: end "a" is the port on bridge, "b" the port on the
// uplink.
func TrunkName(lab, bridge, end string) string {
	return kernelName(kernel.TrunkPrefix, lab, kernel.KindTrunk, bridge+"/"+end)
}

// TrunkAltName is the readable name of a trunk end: "FROM>TO.LAB" for the
// end that is a port of FROM and leads to TO. Names cannot hold '>', so it
// clashes with no other altname.
func TrunkAltName(lab, from, to string) string { return from + ">" + to + "." + lab }
