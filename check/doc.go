// Package check is the reachability prober behind `nslab check`.
//
// It works in two steps. Expect simulates IP routing over a lab's model
// (connected and static routes, longest-prefix match, forwarding
// switches, layer-2 segments and the return path) and lists the probes
// that must succeed: which node pings which address, from which source
// address, through which routers. Ping then sends ICMP and ICMPv6 echo
// requests from inside a node's network namespace, with no external
// binary, and Run ties both together into a Report that renders as a
// reachability matrix or as JSON.
//
// The model is indexed once, in O(addresses): who holds each address,
// each interface's segment, each node's routes sorted for longest-prefix
// match. Following one packet then costs O(path length × log routes), so
// ExpectSample can draw a few hundred (source, destination) node pairs
// of a lab of ten thousand nodes in milliseconds, reproducibly by seed,
// where Expect considers all N² of them.
//
// Run probes all pairs of a small lab. Beyond MatrixMax nodes it does so
// only when the kernel's neighbour tables, which all namespaces share
// (gc_thresh3), have room for the full mesh; otherwise it samples and
// the report says why. Probes that fit half the table go out in one
// burst, the kernel resolving their neighbours; more go in waves whose
// neighbours are primed (permanent entries, which the table does not
// count, written before and deleted after each wave), each wave one
// burst: every socket it needs opened in one pass over the namespaces,
// every request sent from one goroutine, every answer read through one
// epoll.
//
// Only addresses the model expects to answer are ever probed, and the
// root namespace (topology.HostNode) only probes addresses on the lab
// segments it is attached to, pinned to the lab's own interface, so that
// no probe can leave the machine.
package check
