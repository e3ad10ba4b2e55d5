// Package kernel is the only part of nslab that changes the kernel: named
// network namespaces compatible with ip netns, links, addresses, routes and
// sysctls, all through netlink and /proc, never by running ip. It knows
// nothing of topology files; it executes operations that the plan package
// computes and observes what nslab owns on the machine.
package kernel
