package kernel

import "time"

// NetEvent is a change the kernel announced in a namespace: a link that
// came up or went down, appeared or went away, an address or a route
// added or removed.
type NetEvent struct {
	Time time.Time
	// Netns is the namespace's name under NetnsDir; "" is the root
	// namespace.
	Netns string
	// Kind is link-up, link-down, link-added, link-removed, addr-added,
	// addr-removed, route-added or route-removed.
	Kind string
	// Link is the interface's name.
	Link string
	// Alias is the interface's alias: nslab's mark on the links it makes
	// in the root namespace, which names their lab.
	Alias string
	// Detail is the address or the route ("10.0.2.0/24 via 10.0.1.1").
	Detail string
}

// LinkCounters are one interface's state and counters, as a dump of the
// namespace's links gives them.
type LinkCounters struct {
	Index     int32
	Name      string
	Alias     string
	Up        bool // operationally up (carrier)
	RxBytes   uint64
	TxBytes   uint64
	RxPackets uint64
	TxPackets uint64
	RxDropped uint64
	TxDropped uint64
}

// IfaceView is one interface of a namespace as a person looks at it.
type IfaceView struct {
	Name      string   `json:"name"`
	Alias     string   `json:"alias,omitempty"`
	State     string   `json:"state"`
	MTU       int      `json:"mtu"`
	MAC       string   `json:"mac,omitempty"`
	Addresses []string `json:"addresses"`
}
