package graph

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"math"
	"slices"
	"strings"
)

// Sizes of the SVG drawing.
const (
	header     = 28.0 // the caption's band above the drawing
	routerR    = 20.0
	boxH       = 26.0
	charW      = 7.0 // an estimate of a character's width at 12px
	labelLimit = 150 // above this many nodes, cables carry no interface labels
)

// SVG renders g placed by l as a standalone SVG document. Every node is a
// <g class="node KIND" data-id="ID"> and every cable a <g class="edge
// KIND [cut] [shaped]" data-id="ID">, each with a <title> that tells
// what it is, so that a page can find and restyle them.
func SVG(g *Graph, l *Layout) []byte {
	var b bytes.Buffer
	title := caption(g)
	w, h := max(l.Width, float64(len(title))*charW+20), l.Height+header
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%g" height="%g" viewBox="0 0 %g %g" font-family="Helvetica, Arial, sans-serif" font-size="12">`+"\n", w, h, w, h)
	b.WriteString(`<style>
.edge line{stroke:#6b7280;stroke-width:1.5}
.edge.trunk line{stroke:#b45309;stroke-width:3}
.edge.shaped line{stroke:#ea580c}
.edge.cut line{stroke:#dc2626;stroke-width:2;stroke-dasharray:6 4}
.edge text{font-size:10px;fill:#374151;paint-order:stroke;stroke:#fff;stroke-width:3px;stroke-linejoin:round}
.edge text.shape{fill:#c2410c}
.edge text.cutmark{fill:#dc2626;font-size:14px;font-weight:bold}
.node rect,.node circle,.node path{stroke-width:1.5}
.node.node rect{fill:#ecfdf5;stroke:#047857}
.node.router circle{fill:#dbeafe;stroke:#1d4ed8}
.node.bridge rect{fill:#fef3c7;stroke:#b45309}
.node.host path{fill:#e5e7eb;stroke:#374151}
.node text{fill:#111827}
.node text.addr{font-size:10px;fill:#4b5563}
</style>
`)
	fmt.Fprintf(&b, `<rect width="%g" height="%g" fill="#ffffff"/>`+"\n", w, h)
	fmt.Fprintf(&b, `<text x="10" y="18" font-size="13" font-weight="bold">%s</text>`+"\n", esc(title))
	fmt.Fprintf(&b, `<g transform="translate(0 %g)">`+"\n", header)
	labels := len(g.Nodes) <= labelLimit
	for _, e := range g.Edges {
		svgEdge(&b, g, l, e, labels)
	}
	for _, n := range g.Nodes {
		svgNode(&b, n, l.Nodes[n.ID])
	}
	b.WriteString("</g>\n</svg>\n")
	return b.Bytes()
}

func svgEdge(b *bytes.Buffer, g *Graph, l *Layout, e Edge, labels bool) {
	p, q := l.Nodes[e.A.Node], l.Nodes[e.B.Node]
	class := "edge " + e.Kind
	if e.Shape != "" && e.Shape != "off" {
		class += " shaped"
	}
	if e.Cut {
		class += " cut"
	}
	title := e.ID
	for _, x := range []End{e.A, e.B} {
		if len(x.Addresses) > 0 {
			title += "\n" + x.Node + ":" + x.Iface + " " + strings.Join(x.Addresses, " ")
		}
	}
	if e.Shape != "" {
		title += "\nshape: " + e.Shape
	}
	if e.Cut {
		title += "\ncut"
	}
	fmt.Fprintf(b, `<g class="%s" data-id="%s"><title>%s</title>`, class, esc(e.ID), esc(title))
	fmt.Fprintf(b, `<line x1="%g" y1="%g" x2="%g" y2="%g"/>`, p.X, p.Y, q.X, q.Y)
	mid := Point{(p.X + q.X) / 2, (p.Y + q.Y) / 2}
	if e.Cut {
		fmt.Fprintf(b, `<text class="cutmark" x="%g" y="%g" text-anchor="middle">✕</text>`, mid.X, mid.Y+5)
	}
	if labels {
		if e.Shape != "" {
			fmt.Fprintf(b, `<text class="shape" x="%g" y="%g" text-anchor="middle">%s</text>`, mid.X, mid.Y-6, esc(e.Shape))
		}
		svgEndLabel(b, g, e.A, p, q)
		svgEndLabel(b, g, e.B, q, p)
	}
	b.WriteString("</g>\n")
}

// svgEndLabel writes an interface's name and addresses beside the cable,
// just outside the node at p on the way to q.
func svgEndLabel(b *bytes.Buffer, g *Graph, end End, p, q Point) {
	if end.Iface == "" {
		return
	}
	dx, dy := q.X-p.X, q.Y-p.Y
	d := math.Hypot(dx, dy)
	if d < 1 {
		return
	}
	r, half := 0.0, 0.0
	if n := g.Node(end.Node); n != nil {
		r, half = reach(*n, dx/d, dy/d), nodeWidth(*n)/2
	}
	t := (r + 8) / d
	if math.Abs(dx) >= math.Abs(dy) {
		// A flat cable: the label starts clear of the node's box.
		t = max(t, (half+4)/math.Abs(dx))
	}
	t = min(t, 0.45)
	x, y := p.X+dx*t, p.Y+dy*t
	lines := 1 + len(end.Addresses)
	anchor := "middle"
	if math.Abs(dy) > math.Abs(dx) {
		// A steep cable: the label beside it, on the side it leans away from.
		anchor, x = "start", x+7
		if dx > 0 {
			anchor, x = "end", x-14
		}
		if dy < 0 {
			y -= float64(lines-1) * 11
		}
		y += 4
	} else {
		// A flat cable: the label starts at the node and runs along it,
		// below the cable when it climbs, above when it falls.
		anchor = "start"
		if dx < 0 {
			anchor = "end"
		}
		if dy < 0 {
			y += 14
		} else {
			y -= 6 + float64(lines-1)*11
		}
	}
	fmt.Fprintf(b, `<text x="%.1f" y="%.1f" text-anchor="%s">%s`, x, y, anchor, esc(end.Iface))
	for _, a := range end.Addresses {
		fmt.Fprintf(b, `<tspan x="%.1f" dy="11">%s</tspan>`, x, esc(a))
	}
	b.WriteString("</text>")
}

// reach is how far a node's shape reaches from its centre in the
// direction (ux, uy), a unit vector.
func reach(n Node, ux, uy float64) float64 {
	w := nodeWidth(n)
	if n.Kind == KindRouter {
		return max(routerR, w/2-4)
	}
	rx, ry := w/2/math.Abs(ux), boxH/2/math.Abs(uy)
	return min(rx, ry)
}

// nodeWidth is the width of a node's box, from its name.
func nodeWidth(n Node) float64 {
	w := max(float64(len(n.Name))*charW+16, 44)
	if n.Kind == KindBridge {
		w += 12
	}
	return w
}

func svgNode(b *bytes.Buffer, n Node, p Point) {
	title := n.ID
	if len(n.Addresses) > 0 {
		title += "\n" + strings.Join(n.Addresses, " ")
	}
	for _, i := range n.Inner {
		title += "\n" + i.Text()
	}
	if len(n.Services) > 0 {
		title += "\nservices: " + strings.Join(n.Services, ", ")
	}
	if n.Group > 0 {
		title += fmt.Sprintf("\npartition group %d", n.Group)
	}
	fmt.Fprintf(b, `<g class="node %s" data-id="%s"><title>%s</title>`, n.Kind, esc(n.ID), esc(title))
	w := nodeWidth(n)
	stroke := ""
	if n.Group > 0 {
		stroke = fmt.Sprintf(` style="stroke:%s;stroke-width:3"`, groupColor(n.Group))
	}
	switch n.Kind {
	case KindRouter:
		fmt.Fprintf(b, `<circle cx="%g" cy="%g" r="%g"%s/>`, p.X, p.Y, max(routerR, w/2-4), stroke)
	case KindHost:
		x, y := p.X-w/2, p.Y-boxH/2
		fmt.Fprintf(b, `<path d="M%g %gL%g %gL%g %gL%g %gL%g %gZ"%s/>`, x, y+8, p.X, y-4, x+w, y+8, x+w, y+boxH, x, y+boxH, stroke)
	case KindBridge:
		fmt.Fprintf(b, `<rect x="%g" y="%g" width="%g" height="%g" rx="2"%s/>`, p.X-w/2, p.Y-boxH/2, w, boxH, stroke)
	default:
		fmt.Fprintf(b, `<rect x="%g" y="%g" width="%g" height="%g" rx="8"%s/>`, p.X-w/2, p.Y-boxH/2, w, boxH, stroke)
	}
	fmt.Fprintf(b, `<text x="%g" y="%g" text-anchor="middle">%s</text>`, p.X, p.Y+4, esc(n.Name))
	lines := slices.Clone(n.Addresses)
	for _, i := range n.Inner {
		lines = append(lines, i.Text())
	}
	for i, a := range lines {
		fmt.Fprintf(b, `<text class="addr" x="%g" y="%g" text-anchor="middle">%s</text>`, p.X, p.Y+boxH/2+12+float64(i)*11, esc(a))
	}
	b.WriteString("</g>\n")
}

func esc(s string) string {
	var b strings.Builder
	xml.EscapeText(&b, []byte(s))
	return b.String()
}
