package graph

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
)

// algorithm names the layout and its parameters in the hash: a change of
// either must not read back layouts made the old way.
const algorithm = "graphviz-v2"

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
	// Engine lays the graph out; nil means Helper.
	Engine Engine
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
	l, err := compute(ctx, g, opt.Engine)
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
	margin  = 60.0  // above and below the drawing, room for labels
	marginX = 120.0 // left and right: labels run sideways
	spacing = 90.0  // the median distance of a node to its nearest neighbour
	// cableLength is the median length of a cable in a small lab, whose
	// cables carry labels.
	cableLength = 170.0
	// bigGraph is the size from which the layout is sfdp's multilevel
	// force-directed one without overlap removal (1000 nodes: about 1 s),
	// not neato's stress majorization (70 s at 1000 nodes).
	bigGraph = 150
)

// Engine lays out a graph written in DOT with the named Graphviz engine
// and returns the positions as JSON: {"width", "height", "nodes": {ID:
// [x, y]}}, in points with y growing upwards. Helper, the default, runs
// the command nslab-layout; internal/gvlayout.Layout does it in the
// calling process.
type Engine func(ctx context.Context, dot []byte, engine string) ([]byte, error)

// HelperName is the command that lays graphs out for nslab.
const HelperName = "nslab-layout"

// Helper lays a graph out with the command nslab-layout, found by
// FindHelper. Graphviz's WebAssembly runtime lives in that process, not
// in nslab's.
func Helper(ctx context.Context, dot []byte, engine string) ([]byte, error) {
	path, err := FindHelper()
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, path, engine)
	cmd.Stdin = bytes.NewReader(dot)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	// go-graphviz keeps compiled code under $TMPDIR/go-graphviz: a
	// directory of the user's own, not the shared /tmp, where another
	// user could have put code of theirs.
	if dir, err := os.UserCacheDir(); err == nil {
		tmp := filepath.Join(dir, "nslab", "wasm")
		if os.MkdirAll(tmp, 0o700) == nil {
			cmd.Env = append(os.Environ(), "TMPDIR="+tmp)
		}
	}
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("laying out with %s: %w: %s", path, err, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}

// FindHelper finds nslab-layout: $NSLAB_LAYOUT, else next to the running
// executable, else in PATH.
func FindHelper() (string, error) {
	if p := os.Getenv("NSLAB_LAYOUT"); p != "" {
		return p, nil
	}
	if exe, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(exe), HelperName)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
			return p, nil
		}
	}
	if p, err := exec.LookPath(HelperName); err == nil {
		return p, nil
	}
	return "", fmt.Errorf("laying out needs the command %s next to nslab or in PATH: build it with go build -o %s ./cmd/%s (or use -o dot or -o mermaid, which need no layout)", HelperName, HelperName, HelperName)
}

// layoutDOT is g reduced to what the layout needs: node IDs with their
// sizes, and who is cabled to whom.
func layoutDOT(g *Graph) []byte {
	var b bytes.Buffer
	b.WriteString("graph layout {\n")
	if len(g.Nodes) > bigGraph {
		b.WriteString("  graph [overlap=true, splines=false];\n")
	} else {
		// Cables of one length: room for the labels at both ends.
		b.WriteString("  graph [overlap=false, splines=false, sep=\"+12\", start=1];\n  edge [len=2.4];\n")
	}
	for _, n := range g.Nodes {
		w := (max(float64(len(n.Name))*charW+16, 44) + 12) / 72 // inches
		fmt.Fprintf(&b, "  %s [shape=box, fixedsize=true, width=%.2f, height=%.2f];\n", dotID(n.ID), w, (boxH+8)/72)
	}
	for _, e := range g.Edges {
		fmt.Fprintf(&b, "  %s -- %s;\n", dotID(e.A.Node), dotID(e.B.Node))
	}
	b.WriteString("}\n")
	return b.Bytes()
}

// compute lays g out with Graphviz (neato for small labs, sfdp for big
// ones) and scales the result to drawing units: nodes apart enough to
// read, cables of small labs long enough for their labels.
func compute(ctx context.Context, g *Graph, engine Engine) (*Layout, error) {
	l := &Layout{Nodes: make(map[string]Point, len(g.Nodes))}
	switch len(g.Nodes) {
	case 0:
		l.Width, l.Height = 2*marginX, 2*margin
		return l, nil
	case 1:
		l.Nodes[g.Nodes[0].ID] = Point{marginX, margin}
		l.Width, l.Height = 2*marginX, 2*margin
		return l, nil
	}
	name := "neato"
	if len(g.Nodes) > bigGraph {
		name = "sfdp"
	}
	if engine == nil {
		engine = Helper
	}
	out, err := engine(ctx, layoutDOT(g), name)
	if err != nil {
		return nil, err
	}
	var res struct {
		Nodes map[string][2]float64 `json:"nodes"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		return nil, fmt.Errorf("reading the layout: %w", err)
	}
	pos := make([]Point, len(g.Nodes))
	index := make(map[string]int, len(g.Nodes))
	for i, n := range g.Nodes {
		xy, ok := res.Nodes[n.ID]
		if !ok {
			return nil, fmt.Errorf("the layout has no position for %s", n.ID)
		}
		pos[i] = Point{xy[0], -xy[1]} // y grows downwards in SVG
		index[n.ID] = i
	}
	scale := spacing / medianNearest(pos)
	if len(g.Nodes) <= labelLimit {
		scale = max(scale, cableLength/medianEdge(g, index, pos))
	}
	minX, minY := math.Inf(1), math.Inf(1)
	maxX, maxY := math.Inf(-1), math.Inf(-1)
	for _, p := range pos {
		minX, minY = min(minX, p.X), min(minY, p.Y)
		maxX, maxY = max(maxX, p.X), max(maxY, p.Y)
	}
	for i, n := range g.Nodes {
		p := pos[i]
		l.Nodes[n.ID] = Point{round((p.X-minX)*scale + marginX), round((p.Y-minY)*scale + margin)}
	}
	l.Width = round((maxX-minX)*scale + 2*marginX)
	l.Height = round((maxY-minY)*scale + 2*margin)
	return l, nil
}

// medianEdge is the median length of the graph's cables.
func medianEdge(g *Graph, index map[string]int, pos []Point) float64 {
	var ls []float64
	for _, e := range g.Edges {
		a, b := pos[index[e.A.Node]], pos[index[e.B.Node]]
		ls = append(ls, math.Hypot(a.X-b.X, a.Y-b.Y))
	}
	if len(ls) == 0 {
		return 1
	}
	sort.Float64s(ls)
	if m := ls[len(ls)/2]; m > 1e-9 {
		return m
	}
	return 1
}

func round(f float64) float64 { return math.Round(f*10) / 10 }

// medianNearest is the median distance of a point to its nearest
// neighbour.
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
