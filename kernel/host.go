package kernel

import (
	"fmt"
	"net/netip"
	"strings"
)

// HostRoute is a route of the root namespace that is not a default
// route nor one the kernel derives from an address.
type HostRoute struct {
	To    netip.Prefix
	Link  string // kernel name of its device; "" for none (blackhole)
	Table int
}

// Listener is a socket of the root namespace that takes connections or
// datagrams on a port: TCP in LISTEN, UDP bound and unconnected.
type Listener struct {
	Proto string // "tcp" or "udp"
	Addr  netip.Addr
	Port  uint16
	Inode uint64
	// Procs hold the socket (found through /proc/PID/fd, as ss -p does);
	// empty when none could be read.
	Procs []Proc
}

// Proc is a process, by pid and command name.
type Proc struct {
	PID     int
	Command string
}

// Holders says who holds the socket: "pid 123 (python3)", or a note that
// no process could be found.
func (l Listener) Holders() string {
	if len(l.Procs) == 0 {
		return "a socket of no process nslab can see (a kernel service, or another namespace's process)"
	}
	var s []string
	for _, p := range l.Procs {
		s = append(s, fmt.Sprintf("pid %d (%s)", p.PID, p.Command))
	}
	return strings.Join(s, ", ")
}

// AddrPort is where the socket listens, as ss prints it.
func (l Listener) AddrPort() string {
	return netip.AddrPortFrom(l.Addr, l.Port).String()
}
