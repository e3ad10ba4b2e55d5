package graph

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nslab/nslab/gen"
	"github.com/nslab/nslab/internal/gvlayout"
	"github.com/nslab/nslab/topology"
)

// TestNslabDoesNotLinkGraphviz: go-graphviz loads its WebAssembly module
// in an init function (about 100 ms and 20 MB at every start), so only
// the helper nslab-layout may link it, never nslab itself.
func TestNslabDoesNotLinkGraphviz(t *testing.T) {
	for pkg, want := range map[string]bool{"../cmd/nslab": false, "../cmd/nslab-layout": true} {
		out, err := exec.Command("go", "list", "-deps", pkg).CombinedOutput()
		if err != nil {
			t.Fatalf("go list -deps %s: %v\n%s", pkg, err, out)
		}
		if got := strings.Contains(string(out), "github.com/goccy/go-graphviz\n"); got != want {
			t.Errorf("%s links go-graphviz: %v, want %v", pkg, got, want)
		}
	}
}

// TestHelper lays a lab out through the command nslab-layout, built for
// the test, as nslab does.
func TestHelper(t *testing.T) {
	if testing.Short() {
		t.Skip("builds nslab-layout")
	}
	bin := filepath.Join(t.TempDir(), HelperName)
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/nslab-layout").CombinedOutput(); err != nil {
		t.Fatalf("building nslab-layout: %v\n%s", err, out)
	}
	t.Setenv("NSLAB_LAYOUT", bin)
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	g := Build(parse(t, twoLANs), nil)
	l, err := Place(context.Background(), g, &Options{NoCache: true})
	if err != nil {
		t.Fatal(err)
	}
	in, _ := Place(context.Background(), g, &Options{NoCache: true, Engine: gvlayout.Layout})
	for _, n := range g.Nodes {
		if l.Nodes[n.ID] != in.Nodes[n.ID] {
			t.Errorf("%s: at %v through the helper, %v in process", n.ID, l.Nodes[n.ID], in.Nodes[n.ID])
		}
	}
	// The helper's compiled WebAssembly is kept in the user's cache, not
	// in the shared /tmp.
	if _, err := os.Stat(filepath.Join(os.Getenv("XDG_CACHE_HOME"), "nslab", "wasm", "go-graphviz")); err != nil {
		t.Errorf("no compilation cache in the user's cache directory: %v", err)
	}
	t.Setenv("NSLAB_LAYOUT", "")
	t.Setenv("PATH", t.TempDir())
	if _, err := FindHelper(); err == nil || !strings.Contains(err.Error(), "go build -o nslab-layout ./cmd/nslab-layout") {
		t.Errorf("without the helper: %v, want how to build it", err)
	}
}

func fabric(tb testing.TB, spines, leaves, hosts int) *Graph {
	tb.Helper()
	data, err := gen.Generate(gen.LeafSpine{Spines: spines, Leaves: leaves, HostsPerLeaf: hosts}, gen.Options{IPv4Only: true})
	if err != nil {
		tb.Fatal(err)
	}
	lab, err := topology.Parse("fabric.yaml", data)
	if err != nil {
		tb.Fatal(err)
	}
	return Build(lab, nil)
}

// TestPlaceLarge lays out a 1000-node fabric: every node placed, apart
// from the others, and in less than a budget generous for a busy shared
// machine (about 1 s alone).
func TestPlaceLarge(t *testing.T) {
	if testing.Short() {
		t.Skip("lays out 1000 nodes")
	}
	g := fabric(t, 4, 20, 49)
	start := time.Now()
	l, err := Place(context.Background(), g, &Options{NoCache: true, Engine: gvlayout.Layout})
	if err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	t.Logf("%d nodes, %d cables laid out in %v: %gx%g", len(g.Nodes), len(g.Edges), took, l.Width, l.Height)
	if took > 20*time.Second {
		t.Errorf("layout took %v", took)
	}
	seen := map[Point]string{}
	for _, n := range g.Nodes {
		p, ok := l.Nodes[n.ID]
		if !ok {
			t.Fatalf("%s has no position", n.ID)
		}
		if o, dup := seen[p]; dup {
			t.Errorf("%s and %s both at %v", n.ID, o, p)
		}
		seen[p] = n.ID
	}
}

// BenchmarkPlace1000 lays out a leaf-spine fabric of 1004 nodes and 20
// bridges: first without a cache (Graphviz sfdp in process), then read
// back from the cache.
func BenchmarkPlace1000(b *testing.B) {
	g := fabric(b, 4, 20, 49)
	b.Run("first", func(b *testing.B) {
		for b.Loop() {
			if _, err := Place(context.Background(), g, &Options{NoCache: true, Engine: gvlayout.Layout}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("cached", func(b *testing.B) {
		opt := &Options{CacheDir: b.TempDir(), Engine: gvlayout.Layout}
		if _, err := Place(context.Background(), g, opt); err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			if _, err := Place(context.Background(), g, opt); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("svg", func(b *testing.B) {
		l, _ := Place(context.Background(), g, &Options{CacheDir: b.TempDir(), Engine: gvlayout.Layout})
		for b.Loop() {
			SVG(g, l)
		}
	})
}

// BenchmarkHelper is the cost of one layout through the command
// nslab-layout for a 6-node lab: mostly the helper's start, with
// go-graphviz's WebAssembly module loaded from its compilation cache.
func BenchmarkHelper(b *testing.B) {
	bin := filepath.Join(b.TempDir(), HelperName)
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/nslab-layout").CombinedOutput(); err != nil {
		b.Fatalf("building nslab-layout: %v\n%s", err, out)
	}
	b.Setenv("NSLAB_LAYOUT", bin)
	lab, err := topology.Parse("g.yaml", []byte(twoLANs))
	if err != nil {
		b.Fatal(err)
	}
	g := Build(lab, nil)
	if _, err := Place(context.Background(), g, &Options{NoCache: true}); err != nil { // fills the compilation cache
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := Place(context.Background(), g, &Options{NoCache: true}); err != nil {
			b.Fatal(err)
		}
	}
}
