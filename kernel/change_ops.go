package kernel

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
)

// The operations of a reconciling up: they remove or replace what a
// changed topology no longer has. Each tolerates that the object is
// already gone, so that a plan interrupted part-way can run again.

// AddrDel removes an address from an interface.
//
// Equivalent to: ip [-n NS] addr del ADDR dev NAME
type AddrDel struct {
	NS, Name string
	Addr     netip.Prefix
}

func (o *AddrDel) Namespace() string { return o.NS }

func (o *AddrDel) String() string {
	return fmt.Sprintf("%s addr del %s dev %s", ipn(o.NS), o.Addr, o.Name)
}

// RouteDel removes a static route.
//
// Equivalent to: ip [-n NS] route del TO [via VIA] [dev DEV] [metric M]
type RouteDel struct {
	RouteAdd
}

func (o *RouteDel) String() string {
	return strings.Replace(o.RouteAdd.String(), " route add ", " route del ", 1)
}

// LinkSet changes the MTU (when not 0) and the MAC address (when set) of
// an interface in place.
//
// Equivalent to: ip [-n NS] link set NAME mtu MTU address MAC
type LinkSet struct {
	NS, Name string
	MTU      int
	MAC      net.HardwareAddr
}

func (o *LinkSet) Namespace() string { return o.NS }

func (o *LinkSet) String() string {
	s := fmt.Sprintf("%s link set %s", ipn(o.NS), o.Name)
	if o.MTU != 0 {
		s += fmt.Sprintf(" mtu %d", o.MTU)
	}
	if o.MAC != nil {
		s += " address " + o.MAC.String()
	}
	return s
}

// NeighFlush deletes the neighbour entries (ARP and NDP) that the kernel
// learnt on an interface; entries set by hand (permanent, noarp) stay.
// A cable joined again starts with none: entries that failed while it was
// cut would fail the first packets.
//
// Equivalent to: ip [-n NS] neigh flush dev NAME
type NeighFlush struct{ NS, Name string }

func (o *NeighFlush) Namespace() string { return o.NS }

func (o *NeighFlush) String() string { return fmt.Sprintf("%s neigh flush dev %s", ipn(o.NS), o.Name) }

// PortAttach makes a root link a port of a bridge again: a port that was
// detached by hand (nomaster) or put on another bridge is drift.
//
// Equivalent to: ip link set NAME master BRIDGE
type PortAttach struct{ Name, Bridge string }

func (o *PortAttach) Namespace() string { return "" }

func (o *PortAttach) String() string {
	return fmt.Sprintf("ip link set %s master %s", o.Name, o.Bridge)
}
