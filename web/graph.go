package web

import (
	"cmp"
	"math"
	"slices"

	"github.com/nslab/nslab/topology"
)

// Graph is a lab's topology as the page draws it.
type Graph struct {
	Lab string `json:"lab"`
	// Version is that of the lab's file the graph was made from (the
	// state's Version).
	Version string   `json:"version"`
	Nodes   []Vertex `json:"nodes"`
	Cables  []Cable  `json:"cables"`
	Width   float64  `json:"width"`
	Height  float64  `json:"height"`
}

// Vertex is a node, a bridge or the host.
type Vertex struct {
	ID    string  `json:"id"` // n:NODE, b:BRIDGE, host
	Name  string  `json:"name"`
	Kind  string  `json:"kind"` // node, router, bridge, host
	X     float64 `json:"x"`
	Y     float64 `json:"y"`
	Layer int     `json:"-"`
}

// End is one end of a cable.
type End struct {
	Vertex    string   `json:"vertex"`
	Node      string   `json:"node,omitempty"` // empty on a bridge
	Iface     string   `json:"iface,omitempty"`
	Addresses []string `json:"addresses,omitempty"`
}

// Cable is a veth pair: node to node, node to bridge, node to host, or a
// trunk between two bridges.
type Cable struct {
	ID    string `json:"id"` // the A end's NODE:IF, or BRIDGE>UPLINK for a trunk
	Kind  string `json:"kind"`
	A     End    `json:"a"`
	B     End    `json:"b"`
	Shape string `json:"shape,omitempty"`
}

func vertexOfNode(node string) string {
	if node == topology.HostNode {
		return "host"
	}
	return "n:" + node
}

func end(i *topology.Interface) End {
	e := End{Vertex: vertexOfNode(i.Node), Node: i.Node, Iface: i.Name}
	for _, a := range i.Addresses {
		e.Addresses = append(e.Addresses, a.String())
	}
	return e
}

// NewGraph makes the graph of a lab and lays it out.
func NewGraph(t *topology.Lab) *Graph {
	g := &Graph{Lab: t.Name}
	for _, b := range t.Bridges {
		g.Nodes = append(g.Nodes, Vertex{ID: "b:" + b.Name, Name: b.Name, Kind: "bridge"})
	}
	for _, n := range t.Nodes {
		kind := "node"
		if n.Router {
			kind = "router"
		}
		g.Nodes = append(g.Nodes, Vertex{ID: "n:" + n.Name, Name: n.Name, Kind: kind})
	}
	if len(t.Host) > 0 {
		g.Nodes = append(g.Nodes, Vertex{ID: "host", Name: "host", Kind: "host"})
	}
	for _, l := range t.Links {
		c := Cable{}
		switch l.Kind {
		case topology.Port:
			c = Cable{ID: l.A.Ref(), Kind: "port", A: end(l.A), B: End{Vertex: "b:" + l.Bridge.Name}}
		case topology.Trunk:
			c = Cable{ID: l.Bridge.Name + ">" + l.Uplink.Name, Kind: "trunk", A: End{Vertex: "b:" + l.Bridge.Name}, B: End{Vertex: "b:" + l.Uplink.Name}}
		default:
			c = Cable{ID: l.A.Ref(), Kind: "peer", A: end(l.A), B: end(l.B)}
			if l.B.OnHost() {
				c.Kind = "host"
			}
		}
		for _, i := range []*topology.Interface{l.A, l.B} {
			if i != nil && i.Shape != nil {
				c.Shape = i.Shape.String()
			}
		}
		g.Cables = append(g.Cables, c)
	}
	g.layout()
	return g
}

// centre finds a vertex near the middle of the component of v: the
// middle of a longest shortest path, found by two sweeps of breadth first
// search (from v to the farthest u, from u to the farthest w). The spines
// of a fabric, the middle router of a line, the bridge of a star.
func centre(adj [][]int, v int) int {
	sweep := func(from int) (far int, parent map[int]int, dist map[int]int) {
		parent, dist = map[int]int{from: -1}, map[int]int{from: 0}
		queue := []int{from}
		far = from
		for len(queue) > 0 {
			x := queue[0]
			queue = queue[1:]
			if dist[x] > dist[far] {
				far = x
			}
			for _, y := range adj[x] {
				if _, seen := dist[y]; !seen {
					dist[y], parent[y] = dist[x]+1, x
					queue = append(queue, y)
				}
			}
		}
		return far, parent, dist
	}
	u, _, _ := sweep(v)
	w, parent, dist := sweep(u)
	for steps := dist[w] / 2; steps > 0; steps-- {
		w = parent[w]
	}
	return w
}

// exactCentres is the size of component up to which its centre is found
// exactly: a search from every vertex: 1044 of them in 55 ms, once a file.
const exactCentres = 2000

// centres returns the centre of the component of v: the vertices from
// which the farthest one is nearest (every spine of a fabric), found
// exactly in a component of up to exactCentres vertices, else one vertex
// near the middle (centre).
func centres(adj [][]int, v int) []int {
	comp := []int{v}
	seen := map[int]bool{v: true}
	for i := 0; i < len(comp); i++ {
		for _, w := range adj[comp[i]] {
			if !seen[w] {
				seen[w] = true
				comp = append(comp, w)
			}
		}
	}
	if len(comp) > exactCentres {
		return []int{centre(adj, v)}
	}
	dist := make([]int, len(adj))
	best, out := len(comp)+1, []int(nil)
	for _, c := range comp {
		for _, x := range comp {
			dist[x] = -1
		}
		dist[c] = 0
		queue, ecc := []int{c}, 0
		for len(queue) > 0 {
			x := queue[0]
			queue = queue[1:]
			ecc = max(ecc, dist[x])
			for _, y := range adj[x] {
				if dist[y] < 0 {
					dist[y] = dist[x] + 1
					queue = append(queue, y)
				}
			}
		}
		switch {
		case ecc < best:
			best, out = ecc, []int{c}
		case ecc == best:
			out = append(out, c)
		}
	}
	return out
}

// Spacing of the layout, in the page's units.
const (
	colGap    = 70.0  // between vertices of a layer
	rowGap    = 110.0 // between layers
	stubGap   = 50.0  // between the stubs of a block
	stubRow   = 46.0  // between the rows of a block
	maxInRow  = 40    // vertices of a layer in one row
	stubsDrop = 62.0  // from a vertex to the first row of its block
)

// layout places the vertices. Stubs (vertices with one cable, to a
// vertex with more: the hosts of a LAN, the nodes of a star) go in a
// block under that vertex. The others go in layers, breadth first from
// the centre of each component (the spines of a fabric, the middle
// router of a line), so that a fabric reads top down; within a layer
// each vertex sits near the mean place of its neighbours above (one
// barycentre pass), then, from the bottom layer up, a vertex moves over
// the middle of the vertices it leads to and the layer is spread again
// so that no two overlap. A layer wider than maxInRow wraps. Linear in
// the size of the lab apart from the centres (see exactCentres).
func (g *Graph) layout() {
	index := map[string]int{}
	for i, v := range g.Nodes {
		index[v.ID] = i
	}
	n := len(g.Nodes)
	adj := make([][]int, n)
	for _, c := range g.Cables {
		a, aok := index[c.A.Vertex]
		b, bok := index[c.B.Vertex]
		if aok && bok && a != b && !slices.Contains(adj[a], b) {
			adj[a] = append(adj[a], b)
			adj[b] = append(adj[b], a)
		}
	}
	// Stubs hang off their one neighbour.
	stubs := make([][]int, n)
	isStub := make([]bool, n)
	for v := range n {
		if len(adj[v]) == 1 && len(adj[adj[v][0]]) > 1 {
			isStub[v] = true
			stubs[adj[v][0]] = append(stubs[adj[v][0]], v)
		}
	}
	core := make([][]int, n)
	for v := range n {
		for _, w := range adj[v] {
			if !isStub[w] && !isStub[v] {
				core[v] = append(core[v], w)
			}
		}
	}
	layers, layer := coreLayers(core, isStub)
	blockW := func(v int) float64 {
		if len(stubs[v]) == 0 {
			return colGap
		}
		return max(colGap, float64(blockCols(len(stubs[v])))*stubGap+20)
	}
	blockRows := func(v int) int {
		k := len(stubs[v])
		if k == 0 {
			return 0
		}
		return (k + blockCols(k) - 1) / blockCols(k)
	}
	// Rows: a layer wraps every maxInRow vertices.
	type row struct{ vs []int }
	var rows []row
	x := make([]float64, n)
	for li, vs := range layers {
		if li > 0 {
			bary := map[int]float64{}
			for _, v := range vs {
				sum, k := 0.0, 0
				for _, w := range core[v] {
					if layer[w] < li {
						sum += x[w]
						k++
					}
				}
				bary[v] = 1e18
				if k > 0 {
					bary[v] = sum / float64(k)
				}
			}
			slices.SortStableFunc(vs, func(a, b int) int { return cmp.Compare(bary[a], bary[b]) })
		}
		for start := 0; start < len(vs); start += maxInRow {
			r := row{vs[start:min(start+maxInRow, len(vs))]}
			spread(r.vs, x, blockW, 0)
			rows = append(rows, r)
		}
	}
	// From the bottom up, each vertex over the middle of those it leads
	// to in the rows below, then the row spread again.
	rowOf := make([]int, n)
	for ri, r := range rows {
		for _, v := range r.vs {
			rowOf[v] = ri
		}
	}
	for ri := len(rows) - 2; ri >= 0; ri-- {
		want := map[int]float64{}
		for _, v := range rows[ri].vs {
			sum, k := 0.0, 0
			for _, w := range core[v] {
				if rowOf[w] > ri && layer[w] == layer[v]+1 {
					sum += x[w]
					k++
				}
			}
			if k > 0 {
				want[v] = sum / float64(k)
			} else {
				want[v] = x[v]
			}
		}
		for _, v := range rows[ri].vs {
			x[v] = want[v]
		}
		settle(rows[ri].vs, x, blockW)
	}
	// Shift everything right of 40.
	minX := math.Inf(1)
	for _, r := range rows {
		for _, v := range r.vs {
			minX = min(minX, x[v]-blockW(v)/2)
		}
	}
	y, width := 40.0, 0.0
	for _, r := range rows {
		deepest := 0
		for _, v := range r.vs {
			g.Nodes[v].X, g.Nodes[v].Y = x[v]-minX+40, y
			width = max(width, g.Nodes[v].X+blockW(v)/2+40)
			deepest = max(deepest, blockRows(v))
			cols := blockCols(len(stubs[v]))
			for k, s := range stubs[v] {
				c, rr := k%cols, k/cols
				g.Nodes[s].X = g.Nodes[v].X + (float64(c)-float64(cols-1)/2)*stubGap
				g.Nodes[s].Y = y + stubsDrop + float64(rr)*stubRow
			}
		}
		y += rowGap
		if deepest > 0 {
			y += stubsDrop - 20 + float64(deepest)*stubRow
		}
	}
	g.Width, g.Height = max(width, 200), y
}

// blockCols is how many columns a block of k stubs has: one row up to 6,
// else twice as many rows as columns (a block narrower than tall keeps a
// wide layer of LANs readable).
func blockCols(k int) int {
	if k <= 6 {
		return max(k, 1)
	}
	return int(math.Ceil(math.Sqrt(float64(k) / 2)))
}

// spread places the row's vertices left to right, each in its width.
func spread(vs []int, x []float64, w func(int) float64, from float64) {
	at := from
	for _, v := range vs {
		x[v] = at + w(v)/2
		at += w(v)
	}
}

// settle keeps the row's order and moves its vertices the least from
// where they want to be so that none overlaps the next: a sweep right
// pushing apart, then the whole row centred on the mean of its wishes.
func settle(vs []int, x []float64, w func(int) float64) {
	if len(vs) == 0 {
		return
	}
	wish := 0.0
	for _, v := range vs {
		wish += x[v]
	}
	wish /= float64(len(vs))
	for i := 1; i < len(vs); i++ {
		a, b := vs[i-1], vs[i]
		if gap := (w(a) + w(b)) / 2; x[b] < x[a]+gap {
			x[b] = x[a] + gap
		}
	}
	now := 0.0
	for _, v := range vs {
		now += x[v]
	}
	shift := wish - now/float64(len(vs))
	for _, v := range vs {
		x[v] += shift
	}
}

// coreLayers puts the non-stub vertices in layers, breadth first from
// the centres of each component; lone vertices share a layer.
func coreLayers(adj [][]int, isStub []bool) (layers [][]int, layer []int) {
	n := len(adj)
	layer = make([]int, n)
	for i := range layer {
		layer[i] = -1
	}
	order := make([]int, 0, n)
	for v := range n {
		if !isStub[v] {
			order = append(order, v)
		}
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(len(adj[b]), len(adj[a])) })
	base := 0
	var lone []int
	for _, busiest := range order {
		if layer[busiest] >= 0 {
			continue
		}
		if len(adj[busiest]) == 0 {
			lone = append(lone, busiest)
			layer[busiest] = 0
			continue
		}
		var queue []int
		for _, r := range centres(adj, busiest) {
			layer[r] = base
			queue = append(queue, r)
		}
		deepest := base
		for len(queue) > 0 {
			v := queue[0]
			queue = queue[1:]
			for len(layers) <= layer[v] {
				layers = append(layers, nil)
			}
			layers[layer[v]] = append(layers[layer[v]], v)
			deepest = max(deepest, layer[v])
			for _, w := range adj[v] {
				if layer[w] < 0 {
					layer[w] = layer[v] + 1
					queue = append(queue, w)
				}
			}
		}
		base = deepest + 1
	}
	if len(lone) > 0 {
		for _, v := range lone {
			layer[v] = base
		}
		layers = append(layers, lone)
	}
	return layers, layer
}
