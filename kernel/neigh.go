package kernel

import (
	"net"
	"net/netip"
)

// LinkAddr is a link's index and MAC address.
type LinkAddr struct {
	Index int
	MAC   net.HardwareAddr
}

// Neigh is a neighbour entry to make: on link Index, Addr is at MAC.
type Neigh struct {
	Index int
	Addr  netip.Addr
	MAC   net.HardwareAddr
}
