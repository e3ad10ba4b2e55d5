package check

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/nslab/nslab/topology"
)

// render prints probes one per line, for readable diffs.
func render(ps []Probe) []string {
	var out []string
	for _, p := range ps {
		s := fmt.Sprintf("%s -> %s (%s %s) src %s", p.From, p.To, p.ToNode, p.ToDev, p.Src)
		if len(p.Hops) > 0 {
			s += " via " + strings.Join(p.Hops, ",")
		}
		out = append(out, s)
	}
	return out
}

// others drops the trivial probes of a node's own addresses.
func others(ps []Probe) []Probe {
	var out []Probe
	for _, p := range ps {
		if p.From != p.ToNode {
			out = append(out, p)
		}
	}
	return out
}

// star: two nodes and the host on one bridge.
func starLab() *topology.Lab {
	l := newTestLab("star")
	l.bridge("br0", "10.0.0.1/24", "fd00::1/64")
	l.port("a:eth0", "br0", "10.0.0.2/24", "fd00::2/64", "fe80::2/64")
	l.port("b:eth0", "br0", "10.0.0.3/24", "fd00::3/64")
	return l.lab
}

// routed: a -- r -- b on two point-to-point cables, with default routes
// towards r. mode: "router", "sysctl", "v4only", "plain" (no
// forwarding), "noreturn" (b lacks its default route).
func routedLab(mode string) *topology.Lab {
	l := newTestLab("routed-" + mode)
	l.cable(l.ifc("a:eth0", "10.0.1.2/24", "fd01::2/64"), l.ifc("r:eth0", "10.0.1.1/24", "fd01::1/64"))
	l.cable(l.ifc("b:eth0", "10.0.2.2/24", "fd02::2/64"), l.ifc("r:eth1", "10.0.2.1/24", "fd02::1/64"))
	l.route("a", "default", "10.0.1.1", "")
	l.route("a", "default", "fd01::1", "")
	if mode != "noreturn" {
		l.route("b", "default", "10.0.2.1", "")
	}
	l.route("b", "default", "fd02::1", "")
	switch mode {
	case "router", "noreturn":
		l.router("r")
	case "sysctl":
		l.sysctl("r", "net.ipv4.ip_forward", "1")
		l.sysctl("r", "net/ipv6/conf/all/forwarding", "1")
	case "v4only":
		l.sysctl("r", "net.ipv4.ip_forward", "1")
	}
	return l.lab
}

// routedWant is what a, b and r see of each other in routedLab, minus
// own addresses, for the given families ("4", "6", "46"). The four
// probes through r come third to sixth.
func routedWant(fams string, through bool) []string {
	var want []string
	add := func(fam, line string) {
		if strings.Contains(fams, fam) {
			want = append(want, line)
		}
	}
	add("4", "a -> 10.0.1.1 (r eth0) src 10.0.1.2")
	add("6", "a -> fd01::1 (r eth0) src fd01::2")
	add("4", "a -> 10.0.2.1 (r eth1) src 10.0.1.2")
	add("6", "a -> fd02::1 (r eth1) src fd01::2")
	if through {
		add("4", "a -> 10.0.2.2 (b eth0) src 10.0.1.2 via r")
		add("6", "a -> fd02::2 (b eth0) src fd01::2 via r")
		add("4", "b -> 10.0.1.2 (a eth0) src 10.0.2.2 via r")
		add("6", "b -> fd01::2 (a eth0) src fd02::2 via r")
	}
	add("4", "b -> 10.0.1.1 (r eth0) src 10.0.2.2")
	add("6", "b -> fd01::1 (r eth0) src fd02::2")
	add("4", "b -> 10.0.2.1 (r eth1) src 10.0.2.2")
	add("6", "b -> fd02::1 (r eth1) src fd02::2")
	add("4", "r -> 10.0.1.2 (a eth0) src 10.0.1.1")
	add("6", "r -> fd01::2 (a eth0) src fd01::1")
	add("4", "r -> 10.0.2.2 (b eth0) src 10.0.2.1")
	add("6", "r -> fd02::2 (b eth0) src fd02::1")
	return want
}

func TestExpect(t *testing.T) {
	tests := []struct {
		name string
		lab  *topology.Lab
		own  bool // keep own-address probes
		want []string
	}{{
		name: "same segment",
		lab:  starLab(),
		own:  true,
		want: []string{
			"a -> 10.0.0.2 (a eth0) src 10.0.0.2",
			"a -> fd00::2 (a eth0) src fd00::2",
			"a -> 10.0.0.3 (b eth0) src 10.0.0.2",
			"a -> fd00::3 (b eth0) src fd00::2",
			"a -> 10.0.0.1 (host br0) src 10.0.0.2",
			"a -> fd00::1 (host br0) src fd00::2",
			"b -> 10.0.0.2 (a eth0) src 10.0.0.3",
			"b -> fd00::2 (a eth0) src fd00::3",
			"b -> 10.0.0.3 (b eth0) src 10.0.0.3",
			"b -> fd00::3 (b eth0) src fd00::3",
			"b -> 10.0.0.1 (host br0) src 10.0.0.3",
			"b -> fd00::1 (host br0) src fd00::3",
			"host -> 10.0.0.2 (a eth0) src 10.0.0.1",
			"host -> fd00::2 (a eth0) src fd00::1",
			"host -> 10.0.0.3 (b eth0) src 10.0.0.1",
			"host -> fd00::3 (b eth0) src fd00::1",
			"host -> 10.0.0.1 (host br0) src 10.0.0.1",
			"host -> fd00::1 (host br0) src fd00::1",
		},
	}, {
		name: "router with default routes",
		lab:  routedLab("router"),
		want: routedWant("46", true),
	}, {
		name: "forwarding by sysctl",
		lab:  routedLab("sysctl"),
		want: routedWant("46", true),
	}, {
		name: "no forwarding",
		lab:  routedLab("plain"),
		want: routedWant("46", false),
	}, {
		name: "ipv4 forwarding only",
		lab:  routedLab("v4only"),
		want: append(routedWant("46", false), routedWant("4", true)[2:4]...),
	}, {
		name: "missing return route",
		lab:  routedLab("noreturn"),
		want: append(slices.DeleteFunc(routedWant("46", false), func(l string) bool {
			return l == "b -> 10.0.1.1 (r eth0) src 10.0.2.2" // b has no IPv4 route there
		}),
			"a -> fd02::2 (b eth0) src fd01::2 via r",
			"b -> fd01::2 (a eth0) src fd02::2 via r",
		),
	}, {
		name: "p2p /31",
		lab:  p2pLab(),
		want: []string{
			"a -> 10.0.0.1 (b eth0) src 10.0.0.0",
			"b -> 10.0.0.0 (a eth0) src 10.0.0.1",
		},
	}, {
		name: "routing loop",
		lab:  loopLab(),
		want: loopWant(),
	}, {
		name: "host reaches only its segments",
		lab:  hostLab(),
		want: []string{
			"a -> 10.0.6.2 (b eth0) src 10.0.6.1",
			"a -> 10.0.5.1 (host veth-a) src 10.0.5.2",
			"b -> 10.0.5.2 (a eth0) src 10.0.6.2",
			"b -> 192.168.77.2 (a eth0) src 10.0.6.2",
			"b -> 10.0.6.1 (a eth1) src 10.0.6.2",
			"host -> 10.0.5.2 (a eth0) src 10.0.5.1",
		},
	}, {
		name: "source follows the next hop",
		lab:  sourceLab(),
		want: []string{
			"a -> 10.0.1.1 (r eth0) src 10.0.1.2",
			"a -> 10.0.2.1 (r eth1) src 10.0.1.2",
			"r -> 10.0.1.2 (a eth0) src 10.0.1.1",
		},
	}, {
		name: "strict rp_filter drops asymmetric path",
		lab:  rpFilterLab("1"),
		want: rpFilterWant(false),
	}, {
		name: "loose rp_filter accepts asymmetric path",
		lab:  rpFilterLab("2"),
		want: rpFilterWant(true),
	}}
	sorted := cmpopts.SortSlices(func(a, b string) bool { return a < b })
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Expect(tt.lab)
			if !tt.own {
				got = others(got)
			}
			if diff := cmp.Diff(tt.want, render(got), sorted); diff != "" {
				t.Errorf("Expect() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// TestExpectOrder checks that probes come by source, then destination
// in lab order, the same on every call.
func TestExpectOrder(t *testing.T) {
	want := []string{
		"a -> 10.0.0.2 (a eth0) src 10.0.0.2",
		"a -> fd00::2 (a eth0) src fd00::2",
		"a -> 10.0.0.3 (b eth0) src 10.0.0.2",
		"a -> fd00::3 (b eth0) src fd00::2",
		"a -> 10.0.0.1 (host br0) src 10.0.0.2",
		"a -> fd00::1 (host br0) src fd00::2",
	}
	for range 3 {
		got := render(Expect(starLab()))
		if diff := cmp.Diff(want, got[:len(want)]); diff != "" {
			t.Fatalf("Expect() order (-want +got):\n%s", diff)
		}
	}
}

func p2pLab() *topology.Lab {
	l := newTestLab("p2p")
	l.cable(l.ifc("a:eth0", "10.0.0.0/31"), l.ifc("b:eth0", "10.0.0.1/31"))
	return l.lab
}

// loopLab: a -> r1 <-> r2 -- c, where r2 sends c's address back to r1
// and r1 sends it to r2.
func loopLab() *topology.Lab {
	l := newTestLab("loop")
	l.cable(l.ifc("a:eth0", "10.0.1.2/24"), l.ifc("r1:eth0", "10.0.1.1/24"))
	l.cable(l.ifc("r1:eth1", "10.0.12.1/24"), l.ifc("r2:eth0", "10.0.12.2/24"))
	l.cable(l.ifc("r2:eth1", "10.0.9.1/24"), l.ifc("c:eth0", "10.0.9.2/24"))
	l.router("r1")
	l.router("r2")
	l.route("a", "default", "10.0.1.1", "")
	l.route("c", "default", "10.0.9.1", "")
	l.route("r1", "10.0.9.0/24", "10.0.12.2", "")
	l.route("r2", "10.0.9.2/32", "10.0.12.1", "")
	l.route("r2", "10.0.1.0/24", "10.0.12.1", "")
	return l.lab
}

// loopWant: c is reachable from nobody and reaches nobody, since
// everything towards 10.0.9.2 loops between r1 and r2.
func loopWant() []string {
	return []string{
		"a -> 10.0.1.1 (r1 eth0) src 10.0.1.2",
		"a -> 10.0.12.1 (r1 eth1) src 10.0.1.2",
		"a -> 10.0.12.2 (r2 eth0) src 10.0.1.2 via r1",
		"a -> 10.0.9.1 (r2 eth1) src 10.0.1.2 via r1",
		"r1 -> 10.0.1.2 (a eth0) src 10.0.1.1",
		"r1 -> 10.0.12.2 (r2 eth0) src 10.0.12.1",
		"r1 -> 10.0.9.1 (r2 eth1) src 10.0.12.1",
		"r2 -> 10.0.1.2 (a eth0) src 10.0.12.2 via r1",
		"r2 -> 10.0.1.1 (r1 eth0) src 10.0.12.2",
		"r2 -> 10.0.12.1 (r1 eth1) src 10.0.12.2",
	}
}

// hostLab: the host has a cable to a; a routes on to b. The host must
// not probe b nor a's address outside the host's prefix.
func hostLab() *topology.Lab {
	l := newTestLab("host")
	l.cable(l.ifc("host:veth-a", "10.0.5.1/24"), l.ifc("a:eth0", "10.0.5.2/24", "192.168.77.2/24"))
	l.cable(l.ifc("a:eth1", "10.0.6.1/24"), l.ifc("b:eth0", "10.0.6.2/24"))
	l.router("a")
	l.route("a", "default", "10.0.5.1", "")
	l.route("b", "default", "10.0.6.1", "")
	return l.lab
}

// sourceLab: a's first address is not in the gateway's prefix.
func sourceLab() *topology.Lab {
	l := newTestLab("source")
	l.cable(l.ifc("a:eth0", "192.168.9.2/32", "10.0.1.2/24"), l.ifc("r:eth0", "10.0.1.1/24"))
	l.ifc("r:eth1", "10.0.2.1/24")
	l.route("a", "default", "10.0.1.1", "")
	return l.lab
}

// rpFilterLab: a reaches c through r1, but c answers through r2, which
// reaches a's segment over r2--a's second cable. a filters with mode.
func rpFilterLab(mode string) *topology.Lab {
	l := newTestLab("rpf")
	l.cable(l.ifc("a:eth0", "10.0.1.2/24"), l.ifc("r1:eth0", "10.0.1.1/24"))
	l.cable(l.ifc("a:eth1", "10.0.3.2/24"), l.ifc("r2:eth1", "10.0.3.1/24"))
	l.cable(l.ifc("r1:eth1", "10.0.2.1/24"), l.ifc("c:eth0", "10.0.2.2/24"))
	l.cable(l.ifc("r2:eth0", "10.0.4.1/24"), l.ifc("c:eth1", "10.0.4.2/24"))
	l.router("r1")
	l.router("r2")
	l.route("a", "default", "10.0.1.1", "")
	l.route("c", "default", "10.0.4.1", "")
	l.route("r2", "10.0.1.0/24", "10.0.3.2", "")
	l.sysctl("a", "net.ipv4.conf.all.rp_filter", mode)
	return l.lab
}

func rpFilterWant(loose bool) []string {
	var want []string
	if loose {
		want = append(want, "a -> 10.0.2.2 (c eth0) src 10.0.1.2 via r1")
	}
	return append(want,
		"a -> 10.0.3.1 (r2 eth1) src 10.0.3.2",
		"a -> 10.0.1.1 (r1 eth0) src 10.0.1.2",
		"a -> 10.0.2.1 (r1 eth1) src 10.0.1.2",
		"c -> 10.0.2.1 (r1 eth1) src 10.0.2.2",
		"c -> 10.0.3.1 (r2 eth1) src 10.0.4.2",
		"r2 -> 10.0.1.2 (a eth0) src 10.0.3.1",
		"c -> 10.0.4.1 (r2 eth0) src 10.0.4.2",
		"r1 -> 10.0.1.2 (a eth0) src 10.0.1.1",
		"r1 -> 10.0.2.2 (c eth0) src 10.0.2.1",
		"r2 -> 10.0.3.2 (a eth1) src 10.0.3.1",
		"r2 -> 10.0.4.2 (c eth1) src 10.0.4.1",
	)
}

// TestExpectLargeStar bounds the cost of the simulation.
func TestExpectLargeStar(t *testing.T) {
	l := newTestLab("big")
	l.bridge("br0", "10.1.0.1/16")
	const n = 300
	for i := range n {
		l.port(fmt.Sprintf("n%03d:eth0", i), "br0", fmt.Sprintf("10.1.%d.%d/16", i/200, 2+i%200))
	}
	start := time.Now()
	got := Expect(l.lab)
	if want := (n + 1) * (n + 1); len(got) != want {
		t.Errorf("Expect() = %d probes, want %d", len(got), want)
	}
	t.Logf("%d probes in %v", len(got), time.Since(start))
}

// BenchmarkExpectStar1000: 1000 dual-stack nodes on one bridge, about
// two million probes.
func BenchmarkExpectStar1000(b *testing.B) {
	l := newTestLab("big")
	l.bridge("br0", "10.1.0.1/16", "fd01::1/64")
	for i := range 1000 {
		l.port(fmt.Sprintf("n%04d:eth0", i), "br0", fmt.Sprintf("10.1.%d.%d/16", i/200, 2+i%200), fmt.Sprintf("fd01::1:%x/64", i))
	}
	for b.Loop() {
		Expect(l.lab)
	}
}
