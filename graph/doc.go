// Package graph draws a lab: it turns a topology, and for a running lab
// the record of the faults in force, into a Graph of nodes, bridges and
// cables, lays it out, and renders it as DOT, Mermaid, JSON or SVG.
//
// Build is pure (no kernel access): live state comes in through the
// faults record (plan.Faults). Layout places the graph with a
// force-directed layout (gonum's Eades with Barnes-Hut) and caches the
// result by the graph's structural hash, so a lab of 1000 nodes is laid
// out once and read back afterwards. Cut cables, partitions and runtime
// shapes change the drawing, not the layout.
//
//	g := graph.Build(t, faults)
//	l, err := graph.Place(ctx, g, nil) // cached under the user cache dir
//	svg := graph.SVG(g, l)
package graph
