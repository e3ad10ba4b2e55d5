package graph

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/google/go-cmp/cmp"
	"testing"

	"github.com/nslab/nslab/internal/gvlayout"
	"github.com/nslab/nslab/plan"
	"github.com/nslab/nslab/topology"
)

const twoLANs = `name: g
bridges:
  br0: {addresses: [10.0.0.1/24]}
  br1: {link: br0}
nodes:
  r1:
    router: true
    interfaces:
      eth0: {link: br0, addresses: [10.0.0.2/24]}
      eth1: {link: r2:eth0, addresses: [10.1.0.1/30], shape: {rate: 10mbit}}
  r2:
    router: true
    interfaces:
      eth0: {addresses: [10.1.0.2/30]}
  h1:
    interfaces:
      eth0: {link: br1, addresses: [10.0.0.3/24]}
      up: {addresses: [10.2.0.2/30]}
host:
  interfaces:
    h1up: {link: h1:up, addresses: [10.2.0.1/30]}
`

func parse(t *testing.T, src string) *topology.Lab {
	t.Helper()
	lab, err := topology.Parse("g.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	return lab
}

func exampleLabs(t *testing.T) map[string]*topology.Lab {
	t.Helper()
	files, _ := filepath.Glob("../examples/*.yaml")
	if len(files) == 0 {
		t.Fatal("no examples found")
	}
	out := map[string]*topology.Lab{}
	for _, f := range files {
		lab, err := topology.Load(f)
		if err != nil {
			t.Fatal(err)
		}
		out[filepath.Base(f)] = lab
	}
	return out
}

func TestBuild(t *testing.T) {
	g := Build(parse(t, twoLANs), nil)
	var ids []string
	for _, n := range g.Nodes {
		ids = append(ids, n.ID+"="+n.Kind)
	}
	want := []string{"node:h1=node", "node:r1=router", "node:r2=router", "bridge:br0=bridge", "bridge:br1=bridge", "host=host"}
	if !slices.Equal(ids, want) {
		t.Errorf("nodes: %v, want %v", ids, want)
	}
	kinds := map[string]string{}
	for _, e := range g.Edges {
		kinds[e.ID] = e.Kind
	}
	for id, kind := range map[string]string{
		"h1:eth0 -- br1": EdgePort, "h1:up -- host:h1up": EdgeCable, "r1:eth0 -- br0": EdgePort,
		"r1:eth1 -- r2:eth0": EdgeCable, "br1 -- br0": EdgeTrunk,
	} {
		if kinds[id] != kind {
			t.Errorf("edge %q: kind %q, want %q (edges: %v)", id, kinds[id], kind, kinds)
		}
	}
	if len(g.Edges) != 5 {
		t.Errorf("%d edges, want 5", len(g.Edges))
	}
	e := edgeByID(t, g, "r1:eth1 -- r2:eth0")
	if e.Shape != "rate 10mbit" || e.A.Iface != "eth1" || !slices.Equal(e.A.Addresses, []string{"10.1.0.1/30"}) || e.B.Node != "node:r2" {
		t.Errorf("r1-r2 cable: %+v", e)
	}
	if br := g.Node("bridge:br0"); br == nil || !slices.Equal(br.Addresses, []string{"10.0.0.1/24"}) {
		t.Errorf("br0: %+v", br)
	}
}

func edgeByID(t *testing.T, g *Graph, id string) Edge {
	t.Helper()
	for _, e := range g.Edges {
		if e.ID == id {
			return e
		}
	}
	t.Fatalf("no edge %q", id)
	return Edge{}
}

// The faults record of a running lab shows: a cut cable, the partition's
// groups, blocks and runtime shapes (which replace the file's shape).
func TestBuildLiveState(t *testing.T) {
	lab := parse(t, twoLANs)
	f := &plan.Faults{
		Cuts:      []string{"r2:eth0", "host:h1up"},
		Partition: [][]string{{"r1"}, {"r2", "h1"}},
		Blocks:    []plan.Block{{From: []string{"h1"}, To: []string{"r1"}, Loss: 20}},
	}
	f.SetShape(lab, "r1", "eth0", &topology.Shape{Delay: 20e6})
	f.SetShape(lab, "r2", "eth0", nil)
	g := Build(lab, f)
	for id, cut := range map[string]bool{"r1:eth1 -- r2:eth0": true, "h1:up -- host:h1up": true, "r1:eth0 -- br0": false} {
		if e := edgeByID(t, g, id); e.Cut != cut {
			t.Errorf("%s: cut %v, want %v", id, e.Cut, cut)
		}
	}
	if e := edgeByID(t, g, "r1:eth0 -- br0"); e.Shape != "delay 20ms" || !e.RuntimeShape {
		t.Errorf("runtime shape: %+v", e)
	}
	if e := edgeByID(t, g, "r1:eth1 -- r2:eth0"); e.Shape != "off" || !e.RuntimeShape {
		t.Errorf("runtime shape off: %+v", e)
	}
	for name, group := range map[string]int{"node:r1": 1, "node:r2": 2, "node:h1": 2, "bridge:br0": 0} {
		if n := g.Node(name); n.Group != group {
			t.Errorf("%s: group %d, want %d", name, n.Group, group)
		}
	}
	if !slices.Equal(g.Blocks, []string{"h1 -> r1 loss 20%"}) {
		t.Errorf("blocks: %q", g.Blocks)
	}
}

// dotEdge matches an edge statement of DOT's output: "A" -- "B" [attrs].
var dotEdge = regexp.MustCompile(`^\s*("(?:[^"\\]|\\.)*") -- ("(?:[^"\\]|\\.)*") \[(.*)\];$`)
var dotNode = regexp.MustCompile(`^\s*("(?:[^"\\]|\\.)*") \[(.*)\];$`)

// TestDOT parses the DOT of every example back: every node and cable of
// the graph is there once, and a cut cable is red and dashed.
func TestDOT(t *testing.T) {
	for name, lab := range exampleLabs(t) {
		f := &plan.Faults{}
		cutRef := lab.Links[0].A
		if cutRef == nil {
			continue
		}
		f.SetCut(cutRef.Node, cutRef.Name, false)
		g := Build(lab, f)
		out := string(DOT(g))
		if !strings.HasPrefix(out, "graph ") || !strings.HasSuffix(out, "}\n") {
			t.Fatalf("%s: not an undirected DOT graph:\n%s", name, out)
		}
		nodes := map[string]string{}
		edges := map[string]string{}
		for _, line := range strings.Split(out, "\n") {
			if m := dotEdge.FindStringSubmatch(line); m != nil {
				id := regexp.MustCompile(`id="((?:[^"\\]|\\.)*)"`).FindStringSubmatch(m[3])
				if id == nil {
					t.Errorf("%s: edge without id: %s", name, line)
					continue
				}
				edges[id[1]] = m[1] + " " + m[2] + " " + m[3]
			} else if m := dotNode.FindStringSubmatch(line); m != nil && m[1] != `"graph"` {
				nodes[strings.Trim(m[1], `"`)] = m[2]
			}
		}
		for _, n := range g.Nodes {
			if _, ok := nodes[n.ID]; !ok {
				t.Errorf("%s: node %s missing from the DOT", name, n.ID)
			}
		}
		for _, e := range g.Edges {
			attrs, ok := edges[e.ID]
			if !ok {
				t.Errorf("%s: edge %s missing from the DOT", name, e.ID)
				continue
			}
			if e.Cut != strings.Contains(attrs, "style=dashed") {
				t.Errorf("%s: edge %s cut=%v, DOT attributes %s", name, e.ID, e.Cut, attrs)
			}
			if !strings.Contains(attrs, `"`+e.A.Node+`" "`+e.B.Node+`"`) {
				t.Errorf("%s: edge %s joins the wrong nodes: %s", name, e.ID, attrs)
			}
		}
		if len(edges) != len(g.Edges) {
			t.Errorf("%s: %d DOT edges, want %d", name, len(edges), len(g.Edges))
		}
	}
}

// TestMermaid parses the Mermaid flowchart of routers.yaml: one
// declaration per node with the shape of its kind, one link per cable
// between the right nodes, interface names on the links.
func TestMermaid(t *testing.T) {
	lab := exampleLabs(t)["routers.yaml"]
	f := &plan.Faults{Cuts: []string{"r1:east"}}
	g := Build(lab, f)
	out := string(Mermaid(g))
	decl := regexp.MustCompile(`^  (n\d+)(\(\(|\{\{|\[\(|\()"([^"]*)"`)
	link := regexp.MustCompile(`^  (n\d+) (---|-\.-|===)(?:\|"([^"]*)"\|)? (n\d+)$`)
	names := map[string]string{}
	shapes := map[string]string{}
	type l struct{ a, arrow, label, b string }
	var links []l
	for _, line := range strings.Split(out, "\n") {
		if m := decl.FindStringSubmatch(line); m != nil {
			name, _, _ := strings.Cut(m[3], "<br>")
			names[m[1]] = strings.TrimSuffix(name, " (router)")
			shapes[names[m[1]]] = m[2]
		} else if m := link.FindStringSubmatch(line); m != nil {
			links = append(links, l{m[1], m[2], m[3], m[4]})
		}
	}
	if len(names) != len(g.Nodes) || len(links) != len(g.Edges) {
		t.Fatalf("%d nodes and %d links, want %d and %d:\n%s", len(names), len(links), len(g.Nodes), len(g.Edges), out)
	}
	for name, shape := range map[string]string{"r1": "((", "h1": "(", "lan1": "{{"} {
		if shapes[name] != shape {
			t.Errorf("%s: shape %q, want %q", name, shapes[name], shape)
		}
	}
	var found bool
	for _, k := range links {
		if names[k.a] == "r1" && names[k.b] == "r2" {
			found = true
			if k.arrow != "-.-" || !strings.Contains(k.label, "east") || !strings.Contains(k.label, "west") || !strings.Contains(k.label, "(cut)") {
				t.Errorf("r1 -- r2: %+v, want a dotted link labelled east and west, cut", k)
			}
		}
	}
	if !found {
		t.Errorf("no link r1 -- r2 in\n%s", out)
	}
	if !regexp.MustCompile(`(?m)^  linkStyle \d+ stroke:#dc2626`).MatchString(out) {
		t.Errorf("the cut link is not red:\n%s", out)
	}
}

// TestJSON reads the JSON back into a Drawing: the graph and the layout
// survive, every node has a position.
func TestJSON(t *testing.T) {
	g := Build(parse(t, twoLANs), &plan.Faults{Cuts: []string{"r1:eth0"}})
	l, err := Place(context.Background(), g, &Options{NoCache: true, Engine: gvlayout.Layout})
	if err != nil {
		t.Fatal(err)
	}
	data, err := JSON(g, l)
	if err != nil {
		t.Fatal(err)
	}
	var back Drawing
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	if back.Lab != "g" || len(back.Nodes) != len(g.Nodes) || len(back.Edges) != len(g.Edges) || back.Layout == nil {
		t.Fatalf("read back: %+v", back)
	}
	if e := edgeByID(t, back.Graph, "r1:eth0 -- br0"); !e.Cut {
		t.Errorf("cut lost: %+v", e)
	}
	for _, n := range g.Nodes {
		p, ok := back.Layout.Nodes[n.ID]
		if !ok || p.X < 0 || p.Y < 0 || p.X > back.Layout.Width || p.Y > back.Layout.Height {
			t.Errorf("%s at %v (ok %v) in %gx%g", n.ID, p, ok, back.Layout.Width, back.Layout.Height)
		}
	}
}

// TestSVG checks that the SVG of each example is well-formed XML with a
// group for every node and every cable.
func TestSVG(t *testing.T) {
	dir := t.TempDir()
	for name, lab := range exampleLabs(t) {
		g := Build(lab, nil)
		l, err := Place(context.Background(), g, &Options{CacheDir: dir, Engine: gvlayout.Layout})
		if err != nil {
			t.Fatal(err)
		}
		svg := SVG(g, l)
		if out := os.Getenv("NSLAB_GRAPH_SVG_DIR"); out != "" {
			os.WriteFile(filepath.Join(out, strings.TrimSuffix(name, ".yaml")+".svg"), svg, 0o644)
		}
		seen := map[string]string{}
		dec := xml.NewDecoder(bytes.NewReader(svg))
		var root string
		for {
			tok, err := dec.Token()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("%s: SVG is not well-formed: %v", name, err)
			}
			if se, ok := tok.(xml.StartElement); ok {
				if root == "" {
					root = se.Name.Local
				}
				var class, id string
				for _, a := range se.Attr {
					switch a.Name.Local {
					case "class":
						class = a.Value
					case "data-id":
						id = a.Value
					}
				}
				if id != "" {
					seen[id] = class
				}
			}
		}
		if root != "svg" {
			t.Errorf("%s: root element %q", name, root)
		}
		for _, n := range g.Nodes {
			if seen[n.ID] != "node "+n.Kind {
				t.Errorf("%s: node %s: class %q", name, n.ID, seen[n.ID])
			}
		}
		for _, e := range g.Edges {
			if !strings.HasPrefix(seen[e.ID], "edge "+e.Kind) {
				t.Errorf("%s: cable %s: class %q", name, e.ID, seen[e.ID])
			}
		}
	}
}

// TestPlaceCached lays a graph out once: the second call reads the
// cache, the same graph with other live state shares the layout, and a
// graph of another shape gets its own.
func TestPlaceCached(t *testing.T) {
	dir := t.TempDir()
	lab := parse(t, twoLANs)
	g := Build(lab, nil)
	l1, err := Place(context.Background(), g, &Options{CacheDir: dir, Engine: gvlayout.Layout})
	if err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	if len(files) != 1 || filepath.Base(files[0]) != g.Hash()+".json" {
		t.Fatalf("cache holds %v, want %s.json", files, g.Hash())
	}
	// Tamper with the cached copy: a second Place must return it, which
	// shows it was read and not computed.
	l1.Nodes["node:h1"] = Point{1, 2}
	if err := writeLayout(dir, files[0], l1); err != nil {
		t.Fatal(err)
	}
	live := Build(lab, &plan.Faults{Cuts: []string{"r1:eth0"}})
	if live.Hash() != g.Hash() {
		t.Errorf("live state changed the hash")
	}
	l2, err := Place(context.Background(), live, &Options{CacheDir: dir, Engine: gvlayout.Layout})
	if err != nil {
		t.Fatal(err)
	}
	if l2.Nodes["node:h1"] != (Point{1, 2}) {
		t.Errorf("second Place did not read the cache: h1 at %v", l2.Nodes["node:h1"])
	}
	other := Build(parse(t, strings.Replace(twoLANs, "eth0: {link: br0, addresses: [10.0.0.2/24]}", "eth0: {link: br1, addresses: [10.0.0.2/24]}", 1)), nil)
	if other.Hash() == g.Hash() {
		t.Errorf("a cable moved to another node did not change the hash")
	}
}

// TestPlaceDeterministic: one graph, one layout, run after run.
func TestPlaceDeterministic(t *testing.T) {
	lab := exampleLabs(t)["routers.yaml"]
	a, err := Place(context.Background(), Build(lab, nil), &Options{NoCache: true, Engine: gvlayout.Layout})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Place(context.Background(), Build(lab, nil), &Options{NoCache: true, Engine: gvlayout.Layout})
	for id, p := range a.Nodes {
		if b.Nodes[id] != p {
			t.Errorf("%s: %v then %v", id, p, b.Nodes[id])
		}
	}
}

// TestBuildInner: interfaces that are no cable's end (a bond, a vlan
// sub-interface, a vrf) are drawn with their node, with their addresses,
// in every format.
func TestBuildInner(t *testing.T) {
	g := Build(parse(t, `name: inner
bridges: {sw1: {}, sw2: {link: sw1}}
nodes:
  s:
    interfaces:
      eth0: {link: sw1}
      eth1: {link: sw2}
      bond0: {kind: bond, members: [eth0, eth1], mode: active-backup, addresses: [10.9.0.1/24]}
      bond0.7: {kind: vlan, parent: bond0, id: 7, addresses: [10.9.7.1/24]}
`), nil)
	var s *Node
	for i := range g.Nodes {
		if g.Nodes[i].Name == "s" {
			s = &g.Nodes[i]
		}
	}
	if s == nil {
		t.Fatal("no node s")
	}
	want := []Inner{
		{Name: "bond0", Kind: "bond", On: "of eth0, eth1", Addresses: []string{"10.9.0.1/24"}},
		{Name: "bond0.7", Kind: "vlan 7", On: "on bond0", Addresses: []string{"10.9.7.1/24"}},
	}
	if diff := cmp.Diff(want, s.Inner); diff != "" {
		t.Errorf("inner interfaces (-want +got):\n%s", diff)
	}
	for name, out := range map[string]string{"dot": string(DOT(g)), "mermaid": string(Mermaid(g))} {
		for _, w := range []string{"bond0 (bond of eth0, eth1) 10.9.0.1/24", "bond0.7 (vlan 7 on bond0) 10.9.7.1/24"} {
			if !strings.Contains(out, w) {
				t.Errorf("%s lacks %q:\n%s", name, w, out)
			}
		}
	}
}
