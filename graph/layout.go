package graph

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"

	gonum "gonum.org/v1/gonum/graph"
	"gonum.org/v1/gonum/graph/iterator"
	"gonum.org/v1/gonum/graph/layout"
	"gonum.org/v1/gonum/graph/simple"
)

// algorithm names the layout and its parameters in the hash: a change of
// either must not read back layouts made the old way.
const algorithm = "eades-v1"

// Point is a position in the drawing, in SVG user units (pixels).
type Point struct {
	X float64 `json:"x"`
	Y float64 `json:"y"`
}

// Layout is where a graph's nodes go: the centre of each, by Node.ID, in
// a drawing of Width × Height with a margin on every side. Cables are
// straight lines between the centres of their ends.
type Layout struct {
	// Hash is the structural hash of the graph laid out (see Hash).
	Hash   string           `json:"hash"`
	Width  float64          `json:"width"`
	Height float64          `json:"height"`
	Nodes  map[string]Point `json:"nodes"`
}

// Options tune Place. A nil *Options means the defaults.
type Options struct {
	// CacheDir is where layouts are kept, one file per graph hash;
	// "" means DefaultCacheDir.
	CacheDir string
	// NoCache lays the graph out anew and keeps nothing.
	NoCache bool
}

// DefaultCacheDir is the user's cache directory's nslab/layouts
// ($XDG_CACHE_HOME or ~/.cache on Linux).
func DefaultCacheDir() (string, error) {
	d, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("finding a cache directory for layouts: %w", err)
	}
	return filepath.Join(d, "nslab", "layouts"), nil
}

// Hash is the structural hash of the graph: its nodes and which of them
// each cable joins, not names of interfaces, addresses or live state. Two
// graphs with one hash have one layout.
func (g *Graph) Hash() string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\n", algorithm)
	for _, n := range g.Nodes {
		fmt.Fprintf(h, "n %q\n", n.ID)
	}
	for _, e := range g.Edges {
		fmt.Fprintf(h, "e %q %q\n", e.A.Node, e.B.Node)
	}
	return hex.EncodeToString(h.Sum(nil))[:32]
}

// Place lays g out, or reads the layout of a graph with the same hash
// back from the cache. A cache that cannot be read or written is no
// error: the layout is computed.
func Place(ctx context.Context, g *Graph, opt *Options) (*Layout, error) {
	if opt == nil {
		opt = &Options{}
	}
	hash := g.Hash()
	dir := opt.CacheDir
	if !opt.NoCache && dir == "" {
		d, err := DefaultCacheDir()
		if err != nil {
			opt = &Options{NoCache: true}
		}
		dir = d
	}
	file := filepath.Join(dir, hash+".json")
	if !opt.NoCache {
		if l, err := readLayout(file); err == nil && l.Hash == hash && l.covers(g) {
			return l, nil
		}
	}
	l, err := compute(ctx, g)
	if err != nil {
		return nil, err
	}
	l.Hash = hash
	if !opt.NoCache {
		writeLayout(dir, file, l) // best effort: the layout stands without its copy
	}
	return l, nil
}

func (l *Layout) covers(g *Graph) bool {
	for _, n := range g.Nodes {
		if _, ok := l.Nodes[n.ID]; !ok {
			return false
		}
	}
	return true
}

func readLayout(file string) (*Layout, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	l := &Layout{}
	if err := json.Unmarshal(data, l); err != nil {
		return nil, err
	}
	return l, nil
}

func writeLayout(dir, file string, l *Layout) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	data, err := json.Marshal(l)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, ".layout-*")
	if err != nil {
		return err
	}
	_, err = tmp.Write(data)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), file)
	}
	if err != nil {
		os.Remove(tmp.Name())
	}
	return err
}

// Drawing units.
const (
	margin  = 60.0 // around the drawing, room for labels
	spacing = 90.0 // the median distance of a node to its nearest neighbour
)

// compute lays g out with gonum's Eades spring layout (Barnes-Hut
// repulsion), from a fixed seed so that one graph always gets one
// layout, then scales it to drawing units.
func compute(ctx context.Context, g *Graph) (*Layout, error) {
	l := &Layout{Nodes: make(map[string]Point, len(g.Nodes))}
	switch len(g.Nodes) {
	case 0:
		l.Width, l.Height = 2*margin, 2*margin
		return l, nil
	case 1:
		l.Nodes[g.Nodes[0].ID] = Point{margin, margin}
		l.Width, l.Height = 2*margin, 2*margin
		return l, nil
	}
	og := newOrdered(g)
	eades := &layout.EadesR2{Repulsion: 1, Rate: 0.05, Updates: updates(len(g.Nodes)), Theta: 0.5, Src: rand.NewPCG(1, 2)}
	opt := layout.NewOptimizerR2(og, eades.Update)
	for opt.Update() {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("laying out %d nodes: %w", len(g.Nodes), err)
		}
	}
	pos := make([]Point, len(g.Nodes))
	for i := range g.Nodes {
		v := opt.Coord2(int64(i))
		if math.IsNaN(v.X) || math.IsNaN(v.Y) {
			return nil, errors.New("laying out: the spring layout diverged")
		}
		pos[i] = Point{v.X, v.Y}
	}
	scale := spacing / medianNearest(pos)
	minX, minY := math.Inf(1), math.Inf(1)
	maxX, maxY := math.Inf(-1), math.Inf(-1)
	for _, p := range pos {
		minX, minY = min(minX, p.X), min(minY, p.Y)
		maxX, maxY = max(maxX, p.X), max(maxY, p.Y)
	}
	for i, n := range g.Nodes {
		p := pos[i]
		l.Nodes[n.ID] = Point{round((p.X-minX)*scale + margin), round((p.Y-minY)*scale + margin)}
	}
	l.Width = round((maxX-minX)*scale + 2*margin)
	l.Height = round((maxY-minY)*scale + 2*margin)
	return l, nil
}

// updates is how many rounds the spring layout runs: enough for small
// labs to settle, fewer per node for large ones (each round is
// O(n log n)).
func updates(n int) int {
	switch {
	case n <= 100:
		return 300
	case n <= 1000:
		return 150
	}
	return 80
}

func round(f float64) float64 { return math.Round(f*10) / 10 }

// medianNearest is the median distance of a point to its nearest
// neighbour, found on a grid.
func medianNearest(pos []Point) float64 {
	near := make([]float64, len(pos))
	for i, p := range pos {
		near[i] = math.Inf(1)
		for j, q := range pos {
			if i != j {
				near[i] = min(near[i], math.Hypot(p.X-q.X, p.Y-q.Y))
			}
		}
	}
	sort.Float64s(near)
	m := near[len(near)/2]
	if m <= 1e-9 || math.IsInf(m, 0) {
		return 1
	}
	return m
}

// ordered is g as a gonum graph whose nodes and neighbours come in a
// fixed order (gonum's simple graphs iterate maps), so that the layout
// is the same at each run.
type ordered struct {
	nodes []gonum.Node
	adj   [][]int64
	index map[string]int64
}

func newOrdered(g *Graph) *ordered {
	o := &ordered{index: make(map[string]int64, len(g.Nodes))}
	for i, n := range g.Nodes {
		o.nodes = append(o.nodes, simple.Node(i))
		o.index[n.ID] = int64(i)
	}
	o.adj = make([][]int64, len(g.Nodes))
	for _, e := range g.Edges {
		a, okA := o.index[e.A.Node]
		b, okB := o.index[e.B.Node]
		if !okA || !okB || a == b || slices.Contains(o.adj[a], b) {
			continue
		}
		o.adj[a] = append(o.adj[a], b)
		o.adj[b] = append(o.adj[b], a)
	}
	return o
}

func (o *ordered) Node(id int64) gonum.Node {
	if id < 0 || id >= int64(len(o.nodes)) {
		return nil
	}
	return o.nodes[id]
}

func (o *ordered) Nodes() gonum.Nodes { return iterator.NewOrderedNodes(o.nodes) }

func (o *ordered) From(id int64) gonum.Nodes {
	if o.Node(id) == nil || len(o.adj[id]) == 0 {
		return gonum.Empty
	}
	out := make([]gonum.Node, len(o.adj[id]))
	for i, n := range o.adj[id] {
		out[i] = o.nodes[n]
	}
	return iterator.NewOrderedNodes(out)
}

func (o *ordered) HasEdgeBetween(x, y int64) bool {
	return o.Node(x) != nil && slices.Contains(o.adj[x], y)
}

func (o *ordered) Edge(u, v int64) gonum.Edge {
	if !o.HasEdgeBetween(u, v) {
		return nil
	}
	return simple.Edge{F: o.nodes[u], T: o.nodes[v]}
}
