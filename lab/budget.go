package lab

import (
	"fmt"
	"strings"

	"github.com/nslab/nslab/kernel"
	"github.com/nslab/nslab/topology"
)

// Kernel memory of a lab's objects: a namespace costs a fixed part and a
// part per possible CPU (per-CPU statistics and caches), a veth pair with
// its bridge port and addresses about as much again. Fitted (2-CPU VM,
// docs/kernel-notes.md) to the MemAvailable a lab took once settled: 245
// and 264 KiB a node for 1,000-node stars and leaf-spines, 290 and 298
// KiB at 10,000 nodes, 344 KiB for the 50,104-node leaf-spine (328 KiB
// of slab and per-CPU memory): the cost per node grows with the lab, and
// the figures sit in the middle, within 20% of all of these.
const (
	namespaceBytes       = 145 << 10
	namespaceBytesPerCPU = 12 << 10
	linkBytes            = 120 << 10 // a veth pair, or a bridge
	// A route in a node, by family (the kernel's fib entries; measured
	// 103 and 474 bytes over 200,000 of each in one namespace, rounded
	// up). routing: auto makes a route per router and subnet from a few
	// lines of file.
	route4Bytes, route6Bytes = 128, 512
	// memoryShare is the part of MemAvailable a lab may take: the rest is
	// left to the machine.
	memoryShare = 0.8
	// filesBase is what nslab keeps open besides its workers' netlink
	// sockets (3 per namespace being worked on).
	filesBase, filesPerWorker = 64, 4
)

// checkMachine refuses, before anything is built, a lab (or the change
// of a running one, built from old) that this machine cannot hold, unless
// opt.Force. The namespaces and mounts in use are counted only when the
// lab adds namespaces.
func checkMachine(t, old *topology.Lab, opt *Options) error {
	if opt.Force {
		return nil
	}
	m := readMachine(false)
	n := estimate(t, old, m.CPUs, opt.workers())
	if n.namespaces > 0 {
		m = readMachine(true)
	}
	if err := n.fits(m); err != nil {
		return fmt.Errorf("lab %s: %w", t.Name, err)
	}
	if opt.Timings {
		opt.logf("estimate: %s of kernel memory for %d namespaces and %d links; MemAvailable %s", bytesText(n.memory), n.namespaces, n.links, bytesText(m.MemAvailable))
	}
	if note := n.neighbours(m); note != "" && old == nil {
		opt.logf("lab %s: %s", t.Name, note)
	}
	return nil
}

// readMachine is kernel.ReadMachine; tests replace it with a smaller
// machine.
var readMachine = kernel.ReadMachine

// need is what building a lab (or the change of a running one) takes.
type need struct {
	namespaces, links, mounts, files int
	// holderMounts are the mounts of the lab's hostname holder, a mount
	// namespace of its own: one per node of the whole lab.
	holderMounts int
	// routes4 and routes6 are the routes the lab adds in its nodes.
	routes4, routes6 int
	memory           uint64
	// nodes is the number of nodes of the whole lab.
	nodes int
}

// estimate returns what building t takes on a machine with cpus
// possible CPUs and workers in flight: for a running lab built from old,
// only what t adds.
func estimate(t, old *topology.Lab, cpus, workers int) need {
	nodes, links := len(t.Nodes), len(t.Links)+len(t.Bridges)
	if old != nil {
		had := map[string]bool{}
		for _, n := range old.Nodes {
			had[n.Name] = true
		}
		nodes = 0
		for _, n := range t.Nodes {
			if !had[n.Name] {
				nodes++
			}
		}
		links = max(0, links-len(old.Links)-len(old.Bridges))
	}
	perNS := uint64(namespaceBytes + namespaceBytesPerCPU*max(cpus, 1))
	r4, r6 := countRoutes(t)
	if old != nil {
		o4, o6 := countRoutes(old)
		r4, r6 = max(0, r4-o4), max(0, r6-o6)
	}
	mounts := nodes // one bind mount under /run/netns each
	if old == nil {
		mounts++ // the hostname holder, /run/nslab/LAB/uts
	}
	return need{
		namespaces:   nodes,
		links:        links,
		mounts:       mounts,
		holderMounts: len(t.Nodes) + 1, // a UTS namespace per node, on a tmpfs root
		files:        filesBase + filesPerWorker*workers,
		nodes:        len(t.Nodes),
		routes4:      r4,
		routes6:      r6,
		memory:       uint64(nodes)*perNS + uint64(links)*linkBytes + uint64(r4)*route4Bytes + uint64(r6)*route6Bytes,
	}
}

// countRoutes counts the routes of t's nodes (those routing: auto adds
// included), by family.
func countRoutes(t *topology.Lab) (v4, v6 int) {
	for _, n := range t.Nodes {
		for _, r := range n.Routes {
			if r.To.Addr().Is4() {
				v4++
			} else {
				v6++
			}
		}
	}
	return v4, v6
}

// fits compares n with what machine m has, and says what is short, with
// the numbers, and what to do; nil when it fits (or m does not say).
func (n need) fits(m kernel.Machine) error {
	var short []string
	if m.MaxNetNamespaces > 0 && n.namespaces > m.MaxNetNamespaces-m.NetNamespaces {
		short = append(short, fmt.Sprintf("%d network namespaces, but user.max_net_namespaces is %d and %d are in use in /run/netns (sysctl -w user.max_net_namespaces=%d)",
			n.namespaces, m.MaxNetNamespaces, m.NetNamespaces, m.NetNamespaces+n.namespaces))
	}
	if m.MaxUTSNamespaces > 0 && n.namespaces > m.MaxUTSNamespaces {
		short = append(short, fmt.Sprintf("%d UTS namespaces (one per node, for its hostname), but user.max_uts_namespaces is %d (sysctl -w user.max_uts_namespaces=%d, more if other programs use them)",
			n.namespaces, m.MaxUTSNamespaces, n.namespaces))
	}
	mountMax := 0
	if m.MountMax > 0 && n.mounts > m.MountMax-m.Mounts {
		mountMax = m.Mounts + n.mounts
		short = append(short, fmt.Sprintf("%d mounts (one per namespace under /run/netns, one for the lab's hostnames), but fs.mount-max is %d and %d are mounted",
			n.mounts, m.MountMax, m.Mounts))
	}
	if m.MountMax > 0 && n.holderMounts > m.MountMax {
		mountMax = max(mountMax, n.holderMounts)
		short = append(short, fmt.Sprintf("%d mounts in the lab's hostname holder (a mount namespace of its own: one per node), but fs.mount-max is %d",
			n.holderMounts, m.MountMax))
	}
	if mountMax > 0 {
		short[len(short)-1] += fmt.Sprintf(" (sysctl -w fs.mount-max=%d)", mountMax)
	}
	if m.OpenFiles > 0 && n.files > m.OpenFiles-m.FilesOpen {
		short = append(short, fmt.Sprintf("%d open files, but the limit is %d and %d are open (raise it with ulimit -n %d)",
			n.files, m.OpenFiles, m.FilesOpen, m.FilesOpen+n.files))
	}
	if m.MemAvailable > 0 && float64(n.memory) > memoryShare*float64(m.MemAvailable) {
		routes := ""
		if n.routes4+n.routes6 > 0 {
			routes = fmt.Sprintf(", %d IPv4 routes at %d bytes and %d IPv6 routes at %d bytes", n.routes4, route4Bytes, n.routes6, route6Bytes)
		}
		short = append(short, fmt.Sprintf("about %s of kernel memory (%d namespaces at %s each with %d CPUs, %d links at %s%s), but MemAvailable is %s and a lab may take %.0f%% of it",
			bytesText(n.memory), n.namespaces, bytesText(uint64(namespaceBytes+namespaceBytesPerCPU*max(m.CPUs, 1))), max(m.CPUs, 1),
			n.links, bytesText(linkBytes), routes, bytesText(m.MemAvailable), memoryShare*100))
	}
	if len(short) == 0 {
		return nil
	}
	return fmt.Errorf("the lab needs more than this machine has:\n  %s\nmake the lab smaller, raise the limit, or try anyway with --force",
		strings.Join(short, "\n  "))
}

// neighbours says, for a lab with more nodes than the machine's table of
// neighbours holds entries (shared by every namespace: ARP and NDP
// together count against gc_thresh3 of each family), that traffic between
// many of its nodes at once will fail, and which setting to raise; ""
// when the lab fits or the machine does not say. It is advice, not a
// refusal: up itself needs few entries (523 for 10,104 nodes), and a
// sampled nslab check keeps within the table.
func (n need) neighbours(m kernel.Machine) string {
	limit := min(m.NeighMax4, m.NeighMax6)
	if limit == 0 {
		limit = max(m.NeighMax4, m.NeighMax6)
	}
	if limit == 0 || n.nodes <= limit {
		return ""
	}
	return fmt.Sprintf("%d nodes, but the machine's neighbour tables hold %d ARP and %d NDP entries for all namespaces together: traffic between more than about %d pairs of nodes at once fails (sendmsg: invalid argument, \"neighbour table overflow\" in the kernel log) until entries expire; nslab changes no host-wide setting: to allow more, raise net.ipv4.neigh.default.gc_thresh3 and net.ipv6.neigh.default.gc_thresh3 (and gc_thresh2 with them)",
		n.nodes, m.NeighMax4, m.NeighMax6, limit/2)
}

// bytesText writes a size in KiB, MiB or GiB.
func bytesText(b uint64) string {
	switch {
	case b >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(b)/(1<<30))
	case b >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20))
	}
	return fmt.Sprintf("%d KiB", b>>10)
}
