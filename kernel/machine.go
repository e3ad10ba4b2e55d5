package kernel

// Machine is what this machine has for labs, as ReadMachine finds it. A
// zero field is unknown: a check against it is skipped.
type Machine struct {
	// MemAvailable is /proc/meminfo's estimate of the memory that can be
	// used without swapping, in bytes.
	MemAvailable uint64
	// CPUs is the number of possible CPUs: the kernel's per-CPU
	// allocations of each namespace and device are made for each.
	CPUs int
	// MaxNetNamespaces is user.max_net_namespaces; NetNamespaces counts
	// the named namespaces in /run/netns, the ones known to be in use.
	MaxNetNamespaces, NetNamespaces int
	// MaxUTSNamespaces is user.max_uts_namespaces: every node has a UTS
	// namespace of its own (its hostname) beside its network namespace.
	MaxUTSNamespaces int
	// MountMax is fs.mount-max, the mounts a mount namespace may hold;
	// Mounts those of nslab's mount namespace now.
	MountMax, Mounts int
	// OpenFiles is the soft limit of open files of this process (Go
	// raises it to the hard limit at start); FilesOpen those open now.
	OpenFiles, FilesOpen int
	// NeighMax4 and NeighMax6 are net.ipv4.neigh.default.gc_thresh3 and
	// its IPv6 twin: the most ARP and NDP entries of all namespaces
	// together (the table is the machine's, not a namespace's).
	NeighMax4, NeighMax6 int
}
