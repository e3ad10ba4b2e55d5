package web

import (
	"testing"
	"time"

	"github.com/nslab/nslab/gen"
	"github.com/nslab/nslab/topology"
)

func parse(t testing.TB, src string) *topology.Lab {
	t.Helper()
	l, err := topology.Parse("lab.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// The graph has a vertex a node or bridge, a cable a link with its ends'
// interfaces and addresses, and each vertex a place of its own.
func TestGraph(t *testing.T) {
	g := NewGraph(parse(t, `name: g
bridges: {br0: {}}
nodes:
  r1: {router: true, interfaces: {eth0: {link: br0, addresses: [10.0.0.1/24]}, eth1: {link: r2:eth0, addresses: [10.1.0.0/31]}}}
  r2: {interfaces: {eth0: {link: r1:eth1, addresses: [10.1.0.1/31]}}}
  h1: {interfaces: {eth0: {link: br0, addresses: [10.0.0.2/24]}}}
`))
	kinds := map[string]string{}
	for _, v := range g.Nodes {
		kinds[v.ID] = v.Kind
	}
	want := map[string]string{"b:br0": "bridge", "n:r1": "router", "n:r2": "node", "n:h1": "node"}
	for id, k := range want {
		if kinds[id] != k {
			t.Errorf("vertex %s: kind %q, want %q (all: %v)", id, kinds[id], k, kinds)
		}
	}
	cables := map[string]Cable{}
	for _, c := range g.Cables {
		cables[c.ID] = c
	}
	if c := cables["r1:eth1"]; c.Kind != "peer" || c.B.Vertex != "n:r2" || c.B.Iface != "eth0" || len(c.B.Addresses) != 1 || c.B.Addresses[0] != "10.1.0.1/31" {
		t.Errorf("cable r1:eth1: %+v", c)
	}
	if c := cables["h1:eth0"]; c.Kind != "port" || c.B.Vertex != "b:br0" || c.A.Addresses[0] != "10.0.0.2/24" {
		t.Errorf("cable h1:eth0: %+v", c)
	}
	checkPlaces(t, g)
}

func checkPlaces(t *testing.T, g *Graph) {
	t.Helper()
	seen := map[[2]float64]string{}
	for _, v := range g.Nodes {
		p := [2]float64{v.X, v.Y}
		if other, ok := seen[p]; ok {
			t.Fatalf("%s and %s at the same place %v", v.ID, other, p)
		}
		seen[p] = v.ID
		if v.X < 0 || v.Y < 0 || v.X > g.Width || v.Y > g.Height {
			t.Fatalf("%s at %v, outside %vx%v", v.ID, p, g.Width, g.Height)
		}
	}
}

// A 1000-host leaf-spine fabric is laid out in a few milliseconds, every
// vertex in its own place, spines above leaves above hosts.
func TestLayoutFabric(t *testing.T) {
	src, err := gen.Generate(gen.LeafSpine{Spines: 4, Leaves: 20, HostsPerLeaf: 50}, gen.Options{Name: "fab"})
	if err != nil {
		t.Fatal(err)
	}
	l := parse(t, string(src))
	start := time.Now()
	g := NewGraph(l)
	took := time.Since(start)
	t.Logf("%d vertices, %d cables laid out in %v", len(g.Nodes), len(g.Cables), took)
	if len(g.Nodes) != 4+20+20+1000 { // spines, leaves, their LANs, hosts
		t.Fatalf("%d vertices", len(g.Nodes))
	}
	checkPlaces(t, g)
	y := map[string]float64{}
	for _, v := range g.Nodes {
		y[v.Name] = v.Y
	}
	if !(y["sp1"] < y["lf1"] && y["lf1"] < y["lan1"] && y["lan1"] < y["h1-1"]) {
		t.Errorf("layers: spine %v, leaf %v, host %v", y["sp1"], y["lf1"], y["h1-1"])
	}
}
