package web

import (
	"cmp"
	"slices"

	"github.com/nslab/nslab/topology"
)

// Graph is a lab's topology as the page draws it.
type Graph struct {
	Lab    string   `json:"lab"`
	Nodes  []Vertex `json:"nodes"`
	Cables []Cable  `json:"cables"`
	Width  float64  `json:"width"`
	Height float64  `json:"height"`
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
	colGap   = 70.0
	rowGap   = 90.0
	maxInRow = 32
)

// layout places the vertices in layers: breadth first from the centre
// of each component (a spine, a core bridge), so that a fabric reads
// top down, layer by layer; within a layer each vertex sits near the mean
// place of its neighbours above (one barycentre pass), and a layer wider
// than maxInRow wraps into more rows. Linear in the size of the lab: a
// 1000-node fabric is laid out in about a millisecond.
func (g *Graph) layout() {
	index := map[string]int{}
	for i, v := range g.Nodes {
		index[v.ID] = i
	}
	adj := make([][]int, len(g.Nodes))
	for _, c := range g.Cables {
		a, aok := index[c.A.Vertex]
		b, bok := index[c.B.Vertex]
		if aok && bok && a != b {
			adj[a] = append(adj[a], b)
			adj[b] = append(adj[b], a)
		}
	}
	layer := make([]int, len(g.Nodes))
	for i := range layer {
		layer[i] = -1
	}
	// Components one after another, each from its busiest vertex.
	order := make([]int, len(g.Nodes))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(len(adj[b]), len(adj[a])) })
	var layers [][]int
	base := 0
	for _, busiest := range order {
		if layer[busiest] >= 0 {
			continue
		}
		roots := centres(adj, busiest)
		queue := []int{}
		for _, r := range roots {
			layer[r] = base
			queue = append(queue, r)
		}
		root := roots[0]
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
		if len(adj[root]) == 0 {
			continue // lone vertices share the component layer
		}
		base = deepest + 1
	}
	pos := make([]float64, len(g.Nodes))
	y := 40.0
	width := 0.0
	for li, vs := range layers {
		if li > 0 {
			// Near the mean place of the neighbours already placed.
			bary := map[int]float64{}
			for _, v := range vs {
				sum, n := 0.0, 0
				for _, w := range adj[v] {
					if layer[w] < li {
						sum += pos[w]
						n++
					}
				}
				if n > 0 {
					bary[v] = sum / float64(n)
				} else {
					bary[v] = 1e9
				}
			}
			slices.SortStableFunc(vs, func(a, b int) int { return cmp.Compare(bary[a], bary[b]) })
		}
		for start := 0; start < len(vs); start += maxInRow {
			row := vs[start:min(start+maxInRow, len(vs))]
			for k, v := range row {
				pos[v] = float64(k) / float64(max(len(row), 1))
				g.Nodes[v].X = 40 + colGap*float64(k)
				g.Nodes[v].Y = y
				g.Nodes[v].Layer = li
				width = max(width, g.Nodes[v].X+40)
			}
			y += rowGap
		}
	}
	// Centre each row under the widest one.
	rows := map[float64][]int{}
	for i, v := range g.Nodes {
		rows[v.Y] = append(rows[v.Y], i)
	}
	for _, r := range rows {
		w := colGap * float64(len(r)-1)
		shift := (width - 80 - w) / 2
		for _, i := range r {
			g.Nodes[i].X += shift
		}
	}
	g.Width, g.Height = max(width, 200), y
}
