package lab

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/nslab/nslab/kernel"
	"github.com/nslab/nslab/topology"
)

// star returns a lab of n nodes, each with one cable to one bridge, or
// of n empty nodes.
func star(n int, cables bool) *topology.Lab {
	t := &topology.Lab{Name: "s"}
	for i := range n {
		t.Nodes = append(t.Nodes, &topology.Node{Name: fmt.Sprintf("h%d", i+1)})
		if cables {
			t.Links = append(t.Links, &topology.Link{})
		}
	}
	if cables {
		t.Bridges = []*topology.Bridge{{Name: "br0"}}
	}
	return t
}

// routed returns a lab of n nodes with k IPv4 and k IPv6 routes each.
func routed(n, k int) *topology.Lab {
	t := star(n, true)
	to4, to6 := netip.MustParsePrefix("10.0.0.0/24"), netip.MustParsePrefix("fd10::/64")
	for _, node := range t.Nodes {
		for range k {
			node.Routes = append(node.Routes, topology.Route{To: to4}, topology.Route{To: to6})
		}
	}
	return t
}

// TestEstimate: what a lab needs is compared with what the machine has,
// without root: the machine is given as numbers.
func TestEstimate(t *testing.T) {
	const gib = 1 << 30
	vm := kernel.Machine{MemAvailable: 22 * gib, CPUs: 2, MaxNetNamespaces: 96367, NetNamespaces: 10,
		MountMax: 100000, Mounts: 40, OpenFiles: 20000, FilesOpen: 10}
	big := vm
	big.CPUs = 256
	tiny := vm
	tiny.OpenFiles, tiny.MemAvailable = 50, 100<<20
	huge := star(400000, false)
	tests := []struct {
		name    string
		lab     *topology.Lab
		old     *topology.Lab
		m       kernel.Machine
		refused []string // what the message names; none: it fits
	}{
		{"400,000 empty nodes", huge, nil, vm, []string{
			"400000 network namespaces, but user.max_net_namespaces is 96367 and 10 are in use",
			"400001 mounts (one per namespace under /run/netns, one for the lab's hostnames), but fs.mount-max is 100000 and 40 are mounted",
			"400001 mounts in the lab's hostname holder (a mount namespace of its own: one per node), but fs.mount-max is 100000",
			"(sysctl -w user.max_net_namespaces=400010)",
			"fs.mount-max is 100000 (sysctl -w fs.mount-max=400041)",
			"about 64.5 GiB of kernel memory (400000 namespaces at 169 KiB each with 2 CPUs, 0 links at 120 KiB), but MemAvailable is 22.0 GiB",
			"--force"}},
		{"500-node star", star(500, true), nil, vm, nil},
		{"50,000-node star", star(50000, true), nil, vm, nil},
		{"80,000-node star: memory", star(80000, true), nil, vm, []string{"about 22.0 GiB of kernel memory"}},
		{"20,000 nodes on 2 CPUs", star(20000, false), nil, vm, nil},
		{"20,000 nodes on 256 CPUs", star(20000, false), nil, big, []string{"20000 namespaces at 3.1 MiB each with 256 CPUs"}},
		{"open files", star(2, true), nil, tiny, []string{"open files, but the limit is 50 and 10 are open (raise it with ulimit -n 106)"}},
		{"a running lab: only what is added counts", star(500, true), star(500, true), tiny, []string{"open files"}},
		{"a running lab grows", star(1000, true), star(500, true), kernel.Machine{MaxNetNamespaces: 600, MountMax: 100000}, nil},
		{"a running lab grows past the limit", star(1000, true), star(500, true), kernel.Machine{MaxNetNamespaces: 400}, []string{"500 network namespaces"}},
		{"more nodes than UTS namespaces", star(1000, true), nil, kernel.Machine{MaxUTSNamespaces: 999}, []string{"1000 UTS namespaces (one per node, for its hostname), but user.max_uts_namespaces is 999 (sysctl -w user.max_uts_namespaces=1000"}},
		{"a machine that says nothing", huge, nil, kernel.Machine{}, nil},
		// 100 routers with 2000 routes of each family each (what
		// routing: auto makes of a few lines, scaled down): before, only
		// the namespaces and links counted (33 MiB), and 400,000 routes
		// (about 128 MiB more) were built on a machine with 150 MiB.
		{"400,000 routes", routed(100, 2000), nil, kernel.Machine{MemAvailable: 150 << 20, CPUs: 2}, []string{
			"200000 IPv4 routes at 128 bytes and 200000 IPv6 routes at 512 bytes"}},
		{"a running lab keeps its routes", routed(100, 2000), routed(100, 2000), kernel.Machine{MemAvailable: 150 << 20, CPUs: 2}, nil},
	}
	for _, tc := range tests {
		err := estimate(tc.lab, tc.old, tc.m.CPUs, 8).fits(tc.m)
		if len(tc.refused) == 0 {
			if err != nil {
				t.Errorf("%s: refused: %v", tc.name, err)
			}
			continue
		}
		if err == nil {
			t.Errorf("%s: fits, want it refused", tc.name)
			continue
		}
		for _, want := range tc.refused {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%s: got\n%v\nwant it to say %q", tc.name, err, want)
			}
		}
	}
}

// TestEstimateMatchesMeasured: the estimate is within 20% of the kernel
// memory that labs of 1,000 to 50,000 nodes took on the project's 2-CPU
// VM (MemAvailable before up less after it settled, 2026-12-06,
// bench/RESULTS.md), and lets the 50,104-node leaf-spine through on that
// machine as it was before its up.
func TestEstimateMatchesMeasured(t *testing.T) {
	leafSpine := func(spines, leaves, hosts int) *topology.Lab {
		t := star(leaves*hosts+leaves+spines, false)
		for range leaves*spines + leaves*(hosts+1) {
			t.Links = append(t.Links, &topology.Link{})
		}
		for range leaves {
			t.Bridges = append(t.Bridges, &topology.Bridge{})
		}
		return t
	}
	for _, tc := range []struct {
		name     string
		lab      *topology.Lab
		measured uint64 // KiB
	}{
		{"star of 1,000", star(1000, true), 244692},
		{"leaf-spine of 1,014", leafSpine(4, 10, 100), 267800},
		{"star of 10,000", star(10000, true), 2901180},
		{"leaf-spine of 10,104", leafSpine(4, 100, 100), 3011408},
		{"leaf-spine of 50,104", leafSpine(4, 100, 500), 17248788},
	} {
		got := estimate(tc.lab, nil, 2, 8).memory >> 10
		off := float64(got)/float64(tc.measured) - 1
		t.Logf("%s: estimate %d KiB, measured %d KiB (%+.0f%%)", tc.name, got, tc.measured, off*100)
		if off > 0.2 || off < -0.2 {
			t.Errorf("%s: estimate %d KiB is %+.0f%% off the %d KiB measured", tc.name, got, off*100, tc.measured)
		}
	}
	vm := kernel.Machine{MemAvailable: 23079900 << 10, CPUs: 2, MaxNetNamespaces: 96367, NetNamespaces: 1021,
		MaxUTSNamespaces: 96367, MountMax: 100000, Mounts: 1045, OpenFiles: 20000, FilesOpen: 10}
	if err := estimate(leafSpine(4, 100, 500), nil, 2, 8).fits(vm); err != nil {
		t.Errorf("the 50,104-node leaf-spine refused on the machine it was built on: %v", err)
	}
}

// TestNeighbourAdvice: a lab of more nodes than the machine's neighbour
// tables hold gets advice naming the settings to raise, and is not
// refused for it; a smaller one, or a machine that does not say, gets
// none.
func TestNeighbourAdvice(t *testing.T) {
	m := kernel.Machine{NeighMax4: 1024, NeighMax6: 1024}
	note := estimate(star(50000, true), nil, 2, 8).neighbours(m)
	for _, want := range []string{"50000 nodes", "1024 ARP and 1024 NDP entries", "net.ipv4.neigh.default.gc_thresh3", "net.ipv6.neigh.default.gc_thresh3"} {
		if !strings.Contains(note, want) {
			t.Errorf("advice %q does not say %q", note, want)
		}
	}
	if err := estimate(star(50000, true), nil, 2, 8).fits(m); err != nil {
		t.Errorf("refused for the neighbour table: %v", err)
	}
	if note := estimate(star(1000, true), nil, 2, 8).neighbours(m); note != "" {
		t.Errorf("advice for 1000 nodes: %q", note)
	}
	if note := estimate(star(50000, true), nil, 2, 8).neighbours(kernel.Machine{}); note != "" {
		t.Errorf("advice on a machine that does not say: %q", note)
	}
}

// BenchmarkEstimate: reading the machine (the counts of namespaces and
// mounts included) and estimating a 1000-node lab, what up does before it
// builds: a few milliseconds against the 1-3 s that up takes (more while
// another big lab's mounts are in the mount table). A benchmark, not a
// timed test: it failed at 20 ms beside a 10,104-node lab.
func BenchmarkEstimate(b *testing.B) {
	lab := star(1000, true)
	for b.Loop() {
		m := kernel.ReadMachine(true)
		if err := estimate(lab, nil, m.CPUs, 8).fits(m); err != nil {
			b.Fatal(err)
		}
	}
}
