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
// Only addresses the model expects to answer are ever probed, and the
// root namespace (topology.HostNode) only probes addresses on the lab
// segments it is attached to, pinned to the lab's own interface, so that
// no probe can leave the machine.
package check
