package topology_test

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/nslab/nslab/topology"
)

const threeHosts = `hosts:
  h1: {local: true, address: 192.0.2.1}
  h2: {ssh: root@192.0.2.2, address: 192.0.2.2}
  h3: {ssh: lab-3, address: 192.0.2.3, sudo: true}
`

func mustParse(t *testing.T, src string) *topology.Lab {
	t.Helper()
	l, err := topology.Parse("t.yaml", []byte(src))
	if err != nil {
		t.Fatalf("%v\n%s", err, src)
	}
	return l
}

// chain writes a line of n nodes n1 -- n2 -- ... joined by cables.
func chain(n int, hostOf func(i int) string) string {
	var b strings.Builder
	b.WriteString("name: c\n" + threeHosts + "nodes:\n")
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "  n%d:\n", i)
		if h := hostOf(i); h != "" {
			fmt.Fprintf(&b, "    host: %s\n", h)
		}
		b.WriteString("    interfaces:\n")
		if i < n {
			fmt.Fprintf(&b, "      r: {link: n%d:l, addresses: [10.9.%d.1/30]}\n", i+1, i)
		}
		if i > 1 {
			fmt.Fprintf(&b, "      l: {addresses: [10.9.%d.2/30]}\n", i-1)
		}
	}
	return b.String()
}

func counts(pl topology.Placement) map[string]int {
	c := map[string]int{}
	for _, m := range pl {
		c[m]++
	}
	return c
}

// TestPlaceChain: a line of nine nodes over three machines is cut in three
// runs of three: two cables between machines, the least possible.
func TestPlaceChain(t *testing.T) {
	l := mustParse(t, chain(9, func(int) string { return "" }))
	pl := topology.Place(l)
	if diff := cmp.Diff(map[string]int{"h1": 3, "h2": 3, "h3": 3}, counts(pl)); diff != "" {
		t.Errorf("node counts (-want +got):\n%s\n%s", diff, pl)
	}
	if x := topology.Crossings(l, pl); len(x) != 2 {
		t.Errorf("%d cables cross machines, want 2: %v\n%s", len(x), x, pl)
	}
}

// TestPlaceExplicit: host: keys are obeyed, the rest fills the machines
// with room, and nodes pinned beyond the share of a machine stay there.
func TestPlaceExplicit(t *testing.T) {
	l := mustParse(t, chain(6, func(i int) string {
		if i <= 4 {
			return "h3"
		}
		return ""
	}))
	pl := topology.Place(l)
	for i := 1; i <= 4; i++ {
		if pl[fmt.Sprint("n", i)] != "h3" {
			t.Errorf("n%d is on %s, the file says h3", i, pl[fmt.Sprint("n", i)])
		}
	}
	if pl["n5"] == "h3" || pl["n6"] == "h3" {
		t.Errorf("h3 got more nodes though the file filled it beyond its share: %s", pl)
	}
	if pl["n5"] != pl["n6"] {
		t.Errorf("n5 and n6 split between machines though one has room for both: %s", pl)
	}
}

// TestPlaceBridge: nodes on one bridge are spread evenly; the bridge is
// the one segment that crosses, on every machine.
func TestPlaceBridge(t *testing.T) {
	var b strings.Builder
	b.WriteString("name: s\n" + threeHosts + "bridges:\n  sw: {subnets: [10.8.0.0/24]}\nnodes:\n")
	for i := 1; i <= 7; i++ {
		fmt.Fprintf(&b, "  n%d: {interfaces: {eth0: {link: sw}}}\n", i)
	}
	l := mustParse(t, b.String())
	pl := topology.Place(l)
	if diff := cmp.Diff(map[string]int{"h1": 3, "h2": 2, "h3": 2}, counts(pl)); diff != "" {
		t.Errorf("node counts (-want +got):\n%s", diff)
	}
	x := topology.Crossings(l, pl)
	want := []topology.Crossing{{Segment: "sw", Machines: []string{"h1", "h2", "h3"}}}
	if diff := cmp.Diff(want, x); diff != "" {
		t.Errorf("crossings (-want +got):\n%s", diff)
	}
}

// TestPlaceDeterministic: the placement depends on the lab, not on the
// order the file lists it in.
func TestPlaceDeterministic(t *testing.T) {
	var lines []string
	for i := 1; i <= 30; i++ {
		s := fmt.Sprintf("  n%02d: {interfaces: {", i)
		if i < 30 {
			s += fmt.Sprintf("r: {link: n%02d:l, addresses: [10.9.%d.1/30]}", i+1, i)
		}
		if i > 1 {
			if i < 30 {
				s += ", "
			}
			s += fmt.Sprintf("l: {addresses: [10.9.%d.2/30]}", i-1)
		}
		if i%5 == 0 {
			s += fmt.Sprintf(", x: {link: sw%d}", i%3)
		}
		lines = append(lines, s+"}}")
	}
	head := "name: d\n" + threeHosts + "bridges: {sw0: {}, sw1: {}, sw2: {}}\nnodes:\n"
	first := topology.Place(mustParse(t, head+strings.Join(lines, "\n")+"\n"))
	rng := rand.New(rand.NewPCG(1, 2))
	for range 5 {
		rng.Shuffle(len(lines), func(i, j int) { lines[i], lines[j] = lines[j], lines[i] })
		got := topology.Place(mustParse(t, head+strings.Join(lines, "\n")+"\n"))
		if diff := cmp.Diff(first, got); diff != "" {
			t.Fatalf("another order of the file placed differently (-first +got):\n%s", diff)
		}
	}
	if c := counts(first); slices.Max(slices.Collect(maps.Values(c))) > 10 {
		t.Errorf("unbalanced: %v", c)
	}
}

// TestPlaceNoHosts: a lab on one machine has no placement.
func TestPlaceNoHosts(t *testing.T) {
	l := mustParse(t, "name: one\nnodes: {a: {interfaces: {eth0: {link: b:eth0}}}, b: {interfaces: {eth0: {}}}}\n")
	if pl := topology.Place(l); pl != nil || l.MultiHost() {
		t.Errorf("placement %v for a lab without hosts:", pl)
	}
}

// TestHostsErrors: mistakes in hosts: and host: are refused at their line
// with what to write.
func TestHostsErrors(t *testing.T) {
	node := "nodes:\n  a: {host: h1, interfaces: {eth0: {link: b:eth0}}}\n  b: {interfaces: {eth0: {}}}\n"
	tests := []struct{ src, want string }{
		{"hosts:\n  h1: {local: true, address: 192.0.2.1}\n  h2: {ssh: x, address: 192.0.2.2}\nnodes:\n  a: {host: rack9}\n",
			`t.yaml:5:13: node a: no host named "rack9" (hosts: h1, h2)`},
		{"hosts:\n  h1: {local: true, address: 192.0.2.1}\n  hx2: {ssh: x, address: 192.0.2.2}\nnodes:\n  a: {host: hx3}\n",
			`t.yaml:5:13: node a: no host named "hx3"; did you mean "hx2"?`},
		{"nodes:\n  a: {host: h1}\n",
			`t.yaml:2:13: node a names host "h1" but the lab has no hosts: list the machines under hosts: at the top of the file`},
		{"hosts:\n  h1: {local: true, address: 192.0.2.1}\n  h2: {local: true, address: 192.0.2.2}\n" + node,
			`t.yaml:3:8: hosts h1 and h2 are both local: true; one machine runs nslab`},
		{"hosts:\n  h1: {local: true, address: 192.0.2.1}\n  h2: {ssh: x}\n" + node,
			`t.yaml:3:3: host h2 has no address: write address: its own IP address, which the tunnels between the lab's machines use`},
		{"hosts:\n  h1: {local: true, address: 192.0.2.1}\n  h2: {ssh: x, address: 192.0.2.1}\n" + node,
			`t.yaml:3:25: hosts h1 and h2 have the same address 192.0.2.1: each machine has its own`},
		{"hosts:\n  h1: {local: true, address: 192.0.2.1}\n  h2: {address: 192.0.2.2}\n" + node,
			`t.yaml:3:3: host h2 says neither ssh: [user@]host nor local: true: say how nslab reaches it`},
		{"hosts:\n  h1: {local: true, address: 192.0.2.1}\n  h2: {ssh: -oProxyCommand=x, address: 192.0.2.2}\n" + node,
			`t.yaml:3:13: hosts.h2.ssh: "-oProxyCommand=x" is not an ssh destination: write [user@]host or the name of a Host in your ssh_config (no spaces, quotes or leading '-')`},
		{"hosts:\n  h1: {local: true, address: 192.0.2.1}\n  h2: {ssh: x, address: fe80::1}\n" + node,
			`t.yaml:3:25: hosts.h2.address: "fe80::1" is not a unicast address: write the machine's own address the tunnels between machines use (as 192.0.2.10)`},
		{"hosts: {}\n" + node,
			`t.yaml:1:1: hosts: is empty: list the machines the lab spans, or leave hosts: out for a lab on this machine`},
		{"hosts:\n  h1: {local: true, address: 192.0.2.1}\n  h2: {ssh: x, address: 192.0.2.2}\nbridges:\n  s1: {link: s2}\n  s2: {}\nnodes:\n  a: {interfaces: {eth0: {link: s1}}}\n",
			`t.yaml:5:14: a lab across hosts cannot have bridge trunks yet (s1 -- s2): put the nodes of both bridges on one bridge, or the lab on one host`},
	}
	for _, tt := range tests {
		_, err := topology.Parse("t.yaml", []byte("name: e\n"+tt.src))
		got := ""
		if err != nil {
			got = err.Error()
		}
		// The lines above count from the file's second line.
		want := shiftLine(tt.want)
		if !strings.Contains(got, want) {
			t.Errorf("%s\ngot:  %s\nwant: %s", tt.src, got, want)
		}
	}
}

// shiftLine moves "t.yaml:L:C" one line down (the test prepends a line).
func shiftLine(s string) string {
	var line, col int
	var rest string
	if n, _ := fmt.Sscanf(s, "t.yaml:%d:%d:", &line, &col); n != 2 {
		return s
	}
	rest = s[strings.Index(s[len("t.yaml:"):], ":")+len("t.yaml:")+1:]
	rest = rest[strings.Index(rest, ":")+1:]
	return fmt.Sprintf("t.yaml:%d:%d:%s", line+1, col, rest)
}

// TestPlaceFromKeepsRunningNodes: a node added to a running lab (here
// first by name, so that Place's order starts from it) is placed without
// moving the nodes that run; a host: written moves that node alone; a
// node whose host is gone from the file is placed anew.
func TestPlaceFromKeepsRunningNodes(t *testing.T) {
	before := mustParse(t, chain(9, func(int) string { return "" }))
	prior := topology.Place(before)
	src := strings.Replace(chain(9, func(int) string { return "" }), "nodes:\n",
		"nodes:\n  a0: {interfaces: {eth0: {link: n5:x}}}\n", 1)
	added := mustParse(t, strings.Replace(src, "  n5:\n    interfaces:\n", "  n5:\n    interfaces:\n      x: {}\n", 1))
	moved := 0
	for n, h := range topology.Place(added) {
		if prior[n] != "" && prior[n] != h {
			moved++
		}
	}
	if moved == 0 {
		t.Fatalf("Place alone keeps every node where it was: the test shows nothing (prior %s)", prior)
	}
	pl := topology.PlaceFrom(added, prior)
	for n, h := range prior {
		if pl[n] != h {
			t.Errorf("node %s moved from %s to %s when a0 was added (Place alone moved %d nodes)", n, h, pl[n], moved)
		}
	}
	if pl["a0"] == "" {
		t.Errorf("a0 is not placed: %s", pl)
	}
	// host: on n2 moves n2 alone.
	pl = topology.PlaceFrom(mustParse(t, chain(9, func(i int) string { return map[int]string{2: "h3"}[i] })), prior)
	for n, h := range prior {
		if want := map[string]string{"n2": "h3"}[n]; want != "" && pl[n] != want || want == "" && pl[n] != h {
			t.Errorf("with host: h3 on n2, node %s is on %s (was on %s)", n, pl[n], h)
		}
	}
	// A host dropped from the file: its nodes go elsewhere.
	gone := topology.Placement{}
	for n := range prior {
		gone[n] = "h9"
	}
	pl = topology.PlaceFrom(before, gone)
	if diff := cmp.Diff(topology.Place(before), pl); diff != "" {
		t.Errorf("nodes of a host the file no longer has are not placed as new (-Place +PlaceFrom):\n%s", diff)
	}
}
