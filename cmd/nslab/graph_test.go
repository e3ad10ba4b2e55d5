package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/nslab/nslab/graph"
	"github.com/nslab/nslab/nslabtest"
)

var buildHelper sync.Once

// layoutHelper builds nslab-layout next to the test's nslab, once, and
// points nslab at it.
func layoutHelper(t *testing.T) {
	t.Helper()
	helper := filepath.Join(filepath.Dir(bin), "layout", graph.HelperName) // not next to nslab: TestGraphFile runs without it
	buildHelper.Do(func() {
		if out, err := exec.Command("go", "build", "-o", helper, "../nslab-layout").CombinedOutput(); err != nil {
			t.Fatalf("building nslab-layout: %v\n%s", err, out)
		}
	})
	t.Setenv("NSLAB_LAYOUT", helper)
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
}

// TestGraphFile: a file is drawn as written, in every format; a bad
// format is a usage error.
func TestGraphFile(t *testing.T) {
	layoutHelper(t)
	file := "../../examples/routers.yaml"
	r := nslab(t, "", "graph", file, "-o", "json")
	var d graph.Drawing
	if err := json.Unmarshal([]byte(r.stdout), &d); r.code != 0 || err != nil {
		t.Fatalf("graph -o json: %d %v %s", r.code, err, r.stderr)
	}
	if d.Lab != "routers" || len(d.Nodes) != 15 || len(d.Edges) != 14 || d.Layout == nil || len(d.Layout.Nodes) != 15 {
		t.Errorf("routers: %d nodes, %d edges, layout %v", len(d.Nodes), len(d.Edges), d.Layout)
	}
	for format, want := range map[string]string{"dot": `graph "routers" {`, "mermaid": "flowchart LR", "svg": "<svg xmlns="} {
		if r := nslab(t, "", "graph", file, "-o", format); r.code != 0 || !strings.Contains(r.stdout, want) {
			t.Errorf("graph -o %s: %d %s, want %q in\n%.300s", format, r.code, r.stderr, want, r.stdout)
		}
	}
	if r := nslab(t, "", "graph", file, "-o", "png"); r.code != 2 || !strings.Contains(r.stderr, "use dot, mermaid, svg or json") {
		t.Errorf("graph -o png: %d %s", r.code, r.stderr)
	}
	t.Setenv("NSLAB_LAYOUT", "")
	t.Setenv("PATH", t.TempDir())
	// The layout is in the cache: no helper needed to draw it again.
	if r := nslab(t, "", "graph", file, "-o", "svg"); r.code != 0 {
		t.Errorf("graph -o svg from the cache: %d %s", r.code, r.stderr)
	}
	if r := nslab(t, "", "graph", file, "-o", "svg", "--no-cache"); r.code != 1 || !strings.Contains(r.stderr, "go build -o nslab-layout") {
		t.Errorf("graph -o svg without the helper: %d %s", r.code, r.stderr)
	}
	if r := nslab(t, "", "graph", file, "-o", "dot"); r.code != 0 {
		t.Errorf("graph -o dot needs no helper: %d %s", r.code, r.stderr)
	}
}

// TestGraphRunning draws a running lab with a cut cable and a partition:
// the JSON marks the cable cut and the nodes' groups, the DOT draws the
// cable red and dashed; after heal both are gone.
func TestGraphRunning(t *testing.T) {
	nslabtest.RequireRoot(t)
	layoutHelper(t)
	subnet := nslabtest.Subnet(t)
	name := nslabtest.Name("see")
	file := filepath.Join(t.TempDir(), name+".yaml")
	yaml := fmt.Sprintf("name: %s\nbridges:\n  br0: {}\nnodes:\n  ns1: {interfaces: {eth0: {link: br0, addresses: [%[2]s.2/24]}}}\n  ns2: {interfaces: {eth0: {link: br0, addresses: [%[2]s.3/24]}}}\n", name, subnet)
	if err := os.WriteFile(file, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	if r := nslab(t, "", "up", file); r.code != 0 {
		t.Fatalf("up: %s", r.stderr)
	}
	t.Cleanup(func() {
		if r := nslab(t, "", "down", "--lab", name); r.code != 0 {
			t.Errorf("down: %s", r.stderr)
		}
		nslabtest.CheckLeaks(t, name)
	})
	drawing := func() graph.Drawing {
		t.Helper()
		r := nslab(t, "", "graph", name, "-o", "json")
		var d graph.Drawing
		if err := json.Unmarshal([]byte(r.stdout), &d); r.code != 0 || err != nil {
			t.Fatalf("graph %s -o json: %d %v %s", name, r.code, err, r.stderr)
		}
		return d
	}
	cut := func(d graph.Drawing) (out []string) {
		for _, e := range d.Edges {
			if e.Cut {
				out = append(out, e.ID)
			}
		}
		return out
	}
	if d := drawing(); len(cut(d)) != 0 || d.Partition != nil {
		t.Fatalf("a whole lab drawn with faults: %+v", d)
	}
	for _, a := range [][]string{{"link", "down", name + ".ns1:eth0"}, {"partition", "--lab", name, "ns1", "ns2"}} {
		if r := nslab(t, "", a...); r.code != 0 {
			t.Fatalf("%q: %s", a, r.stderr)
		}
	}
	d := drawing()
	if got := cut(d); !slices.Equal(got, []string{"ns1:eth0 -- br0"}) {
		t.Errorf("cut cables %q, want ns1:eth0 -- br0", got)
	}
	if n1, n2 := d.Graph.Node("node:ns1"), d.Graph.Node("node:ns2"); n1 == nil || n2 == nil || n1.Group != 1 || n2.Group != 2 {
		t.Errorf("partition groups: %+v %+v", n1, n2)
	}
	dot := nslab(t, "", "graph", name).stdout
	if !strings.Contains(dot, `"node:ns1" -- "bridge:br0" [id="ns1:eth0 -- br0", taillabel="eth0\n`+subnet+`.2/24", color=red, style=dashed`) {
		t.Errorf("the DOT does not draw the cut cable red and dashed:\n%s", dot)
	}
	if r := nslab(t, "", "heal", name); r.code != 0 {
		t.Fatalf("heal: %s", r.stderr)
	}
	if d := drawing(); len(cut(d)) != 0 || d.Partition != nil {
		t.Errorf("faults drawn after heal: %q %v", cut(d), d.Partition)
	}
}
