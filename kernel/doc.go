// Package kernel is the only part of nslab that changes the kernel: named
// network namespaces compatible with ip netns, links, addresses, routes and
// sysctls, all through netlink and /proc, never by running ip. It knows
// nothing of topology files; it executes operations that the plan package
// computes and observes what nslab owns on the machine.
//
// The operations (Op and its kinds) and what is observed (State) are plain
// data that build on any OS, so that plans are made and rendered anywhere;
// applying and observing them needs Linux (the _linux.go files). The names
// and marks that tell nslab's objects from others (Marker, the link-name
// prefixes, TableName) are defined in names.go and nowhere else.
package kernel
