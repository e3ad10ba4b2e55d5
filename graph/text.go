package graph

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
)

// DOT renders g in Graphviz's language, an undirected graph: nodes are
// boxes, routers circles (doublecircle with services), bridges filled
// boxes, the host a house; cables carry the interface names and addresses
// at their ends, a shape as their label; a cut cable is red and dashed.
func DOT(g *Graph) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "graph %s {\n", dotID(g.Lab))
	fmt.Fprintf(&b, "  graph [label=%s, labelloc=t, fontname=\"Helvetica\"];\n", dotID(caption(g)))
	b.WriteString("  node [fontname=\"Helvetica\", fontsize=11];\n  edge [fontname=\"Helvetica\", fontsize=9];\n")
	for _, n := range g.Nodes {
		attrs := []string{"label=" + dotID(nodeLabel(n, "\n"))}
		switch n.Kind {
		case KindRouter:
			attrs = append(attrs, "shape=circle", "style=filled", "fillcolor=\"#dbeafe\"", "color=\"#1d4ed8\"")
		case KindBridge:
			attrs = append(attrs, "shape=box", "style=filled", "fillcolor=\"#fef3c7\"", "color=\"#b45309\"")
		case KindHost:
			attrs = append(attrs, "shape=house", "style=filled", "fillcolor=\"#e5e7eb\"")
		default:
			attrs = append(attrs, "shape=box", "style=\"rounded,filled\"", "fillcolor=\"#ecfdf5\"", "color=\"#047857\"")
		}
		if n.Group > 0 {
			attrs = append(attrs, "penwidth=3", fmt.Sprintf("color=%q", groupColor(n.Group)))
		}
		if len(n.Services) > 0 {
			attrs = append(attrs, "tooltip="+dotID("services: "+strings.Join(n.Services, ", ")))
		}
		fmt.Fprintf(&b, "  %s [%s];\n", dotID(n.ID), strings.Join(attrs, ", "))
	}
	for _, e := range g.Edges {
		attrs := []string{"id=" + dotID(e.ID)}
		if l := endLabel(e.A, "\n"); l != "" {
			attrs = append(attrs, "taillabel="+dotID(l))
		}
		if l := endLabel(e.B, "\n"); l != "" {
			attrs = append(attrs, "headlabel="+dotID(l))
		}
		if e.Shape != "" {
			attrs = append(attrs, "label="+dotID(e.Shape), "fontcolor=\"#c2410c\"")
		}
		switch {
		case e.Cut:
			attrs = append(attrs, "color=red", "style=dashed", "penwidth=2")
		case e.Kind == EdgeTrunk:
			attrs = append(attrs, "penwidth=3", "color=\"#b45309\"")
		}
		fmt.Fprintf(&b, "  %s -- %s [%s];\n", dotID(e.A.Node), dotID(e.B.Node), strings.Join(attrs, ", "))
	}
	b.WriteString("}\n")
	return b.Bytes()
}

// dotID quotes s as a DOT ID.
func dotID(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)
	return `"` + r.Replace(s) + `"`
}

// caption describes the lab and its live state in one line.
func caption(g *Graph) string {
	nodes, bridges := 0, 0
	for _, n := range g.Nodes {
		switch n.Kind {
		case KindNode, KindRouter:
			nodes++
		case KindBridge:
			bridges++
		}
	}
	cut := 0
	for _, e := range g.Edges {
		if e.Cut {
			cut++
		}
	}
	s := fmt.Sprintf("lab %s: %s, %s, %s", g.Lab, count(nodes, "node"), count(bridges, "bridge"), count(len(g.Edges), "cable"))
	if cut > 0 {
		s += fmt.Sprintf(" (%d cut)", cut)
	}
	if len(g.Partition) > 0 {
		var gs []string
		for _, grp := range g.Partition {
			gs = append(gs, "{"+strings.Join(grp, ", ")+"}")
		}
		s += "; partition " + strings.Join(gs, " | ")
	}
	for _, bl := range g.Blocks {
		s += "; block " + bl
	}
	return s
}

func count(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}

func nodeLabel(n Node, sep string) string {
	parts := []string{n.Name}
	if n.Kind == KindRouter {
		parts[0] += " (router)"
	}
	parts = append(parts, n.Addresses...)
	for _, i := range n.Inner {
		parts = append(parts, i.Text())
	}
	return strings.Join(parts, sep)
}

func endLabel(e End, sep string) string {
	if e.Iface == "" {
		return ""
	}
	return strings.Join(append([]string{e.Iface}, e.Addresses...), sep)
}

// Mermaid renders g as a Mermaid flowchart: nodes are rectangles with
// round corners, routers circles, bridges hexagons, the host a cylinder;
// cable labels name both ends; cut cables are dotted and red.
func Mermaid(g *Graph) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "---\ntitle: %q\n---\nflowchart LR\n", caption(g))
	ids := make(map[string]string, len(g.Nodes))
	for i, n := range g.Nodes {
		id := fmt.Sprintf("n%d", i)
		ids[n.ID] = id
		label := `"` + mermaidText(nodeLabel(n, "<br>")) + `"`
		switch n.Kind {
		case KindRouter:
			fmt.Fprintf(&b, "  %s((%s))\n", id, label)
		case KindBridge:
			fmt.Fprintf(&b, "  %s{{%s}}\n", id, label)
		case KindHost:
			fmt.Fprintf(&b, "  %s[(%s)]\n", id, label)
		default:
			fmt.Fprintf(&b, "  %s(%s)\n", id, label)
		}
	}
	var cut, trunk []string
	for i, e := range g.Edges {
		var ends []string
		for _, x := range []End{e.A, e.B} {
			if l := endLabel(x, " "); l != "" {
				ends = append(ends, l)
			}
		}
		label := strings.Join(ends, " — ")
		if e.Shape != "" {
			label += " [" + e.Shape + "]"
		}
		arrow := "---"
		switch {
		case e.Cut:
			arrow = "-.-"
			label += " (cut)"
			cut = append(cut, fmt.Sprint(i))
		case e.Kind == EdgeTrunk:
			arrow = "==="
			trunk = append(trunk, fmt.Sprint(i))
		}
		if label = strings.TrimSpace(label); label != "" {
			fmt.Fprintf(&b, "  %s %s|\"%s\"| %s\n", ids[e.A.Node], arrow, mermaidText(label), ids[e.B.Node])
		} else {
			fmt.Fprintf(&b, "  %s %s %s\n", ids[e.A.Node], arrow, ids[e.B.Node])
		}
	}
	if len(cut) > 0 {
		fmt.Fprintf(&b, "  linkStyle %s stroke:#dc2626,stroke-width:2px\n", strings.Join(cut, ","))
	}
	for grp := range g.Partition {
		var members []string
		for _, n := range g.Nodes {
			if n.Group == grp+1 {
				members = append(members, ids[n.ID])
			}
		}
		if len(members) > 0 {
			fmt.Fprintf(&b, "  classDef group%d stroke:%s,stroke-width:3px\n  class %s group%d\n", grp+1, groupColor(grp+1), strings.Join(members, ","), grp+1)
		}
	}
	return b.Bytes()
}

// mermaidText escapes what would end a quoted Mermaid label.
func mermaidText(s string) string {
	return strings.NewReplacer(`"`, "#quot;", "\n", " ", "|", "#124;").Replace(s)
}

// Drawing is a graph with its layout: what nslab graph -o json prints
// and the web view draws.
type Drawing struct {
	*Graph
	Layout *Layout `json:"layout,omitempty"`
}

// JSON renders g, with l when it is not nil.
func JSON(g *Graph, l *Layout) ([]byte, error) {
	data, err := json.MarshalIndent(Drawing{Graph: g, Layout: l}, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(data, '\n'), nil
}

// groupColor is the colour of partition group i (1-based).
func groupColor(i int) string {
	palette := []string{"#7c3aed", "#db2777", "#0891b2", "#65a30d", "#ea580c", "#4f46e5"}
	return palette[(i-1)%len(palette)]
}
