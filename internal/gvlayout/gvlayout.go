// Package gvlayout lays graphs out with Graphviz compiled to WebAssembly
// (github.com/goccy/go-graphviz, run by wazero: pure Go, no Graphviz
// install). Importing it costs every process that links it about 100 ms
// and 20 MB at start (the module is loaded in an init function, compiled
// on first use into $TMPDIR/go-graphviz), so nslab itself does not: its
// layouts are made by the helper command nslab-layout, which does.
package gvlayout

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/goccy/go-graphviz"
)

// Positions is what a layout gives: the bounding box and each node's
// centre, in points, with y growing upwards (Graphviz's way).
type Positions struct {
	Width  float64               `json:"width"`
	Height float64               `json:"height"`
	Nodes  map[string][2]float64 `json:"nodes"`
}

// Layout lays out the graph written in DOT with the named Graphviz
// engine (dot, neato, sfdp, twopi, circo, fdp) and returns the
// positions as JSON.
func Layout(ctx context.Context, dot []byte, engine string) ([]byte, error) {
	gv, err := graphviz.New(ctx)
	if err != nil {
		return nil, fmt.Errorf("starting graphviz: %w", err)
	}
	defer gv.Close()
	g, err := graphviz.ParseBytes(dot)
	if err != nil {
		return nil, fmt.Errorf("reading the graph: %w", err)
	}
	defer g.Close()
	gv.SetLayout(graphviz.Layout(engine))
	// Rendering as DOT writes the positions into the graph's attributes.
	if err := gv.Render(ctx, g, graphviz.XDOT, discard{}); err != nil {
		return nil, fmt.Errorf("laying out with %s: %w", engine, err)
	}
	p := Positions{Nodes: map[string][2]float64{}}
	bb := floats(g.GetStr("bb"))
	if len(bb) == 4 {
		p.Width, p.Height = bb[2]-bb[0], bb[3]-bb[1]
	}
	for n, _ := g.FirstNode(); n != nil; n, _ = g.NextNode(n) {
		name, err := n.Name()
		if err != nil {
			return nil, err
		}
		xy := floats(n.GetStr("pos"))
		if len(xy) < 2 {
			return nil, fmt.Errorf("laying out with %s: node %q has no position", engine, name)
		}
		p.Nodes[name] = [2]float64{xy[0], xy[1]}
	}
	return json.Marshal(p)
}

// floats reads "x,y" or "x1,y1,x2,y2" (a trailing "!" pins a node).
func floats(s string) []float64 {
	var out []float64
	for _, f := range strings.Split(strings.TrimSuffix(s, "!"), ",") {
		v, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		if err != nil {
			return nil
		}
		out = append(out, v)
	}
	return out
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
