// Package nslab is the Go library of nslab: it builds a lab (network
// namespaces as nodes, veth pairs as cables, Linux bridges as switches)
// from a topology, hands back a Lab that owns it, and removes it on
// Close.
//
// A test, or any Go program run as root, can then work inside the
// lab's nodes without leaving its own process: Node.Listen, Dial and
// ListenPacket make sockets in a node that any goroutine may use, so
// several in-process servers can each live in a node of their own;
// Node.Command runs a program in a node as nslab exec does (with the
// node's hostname and the lab's hosts file); Node.Do runs Go code on a
// thread inside it. The lab's network can be broken and mended while
// they run: Cut and Join a cable, Partition and Heal, Shape a cable,
// Apply a changed topology.
//
// Topologies come from files (topology.Load, topology.Parse) or from Go
// (topology.Builder). Package nslabtest starts labs for tests: under a
// unique name, skipped without root, removed and checked for leftovers
// when the test ends.
//
// It needs Linux and root (or CAP_NET_ADMIN, CAP_SYS_ADMIN and
// CAP_DAC_OVERRIDE), as the nslab command does.
//
// Names of the lab's nodes resolve, in Dial and Listen as in commands,
// from the lab's hosts file only (NODE, NODE.LAB, IF.NODE); the
// machine's resolver is never asked.
package nslab
