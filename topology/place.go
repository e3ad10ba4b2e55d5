package topology

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Placement says which machine each node of a lab across machines is on,
// by node name.
type Placement map[string]string

// Place puts every node of a lab across machines on one of its hosts:
// where the file says (host:), the others automatically. Automatic
// placement is deterministic (the same file gives the same placement on
// every machine and every run) and aims at balanced node counts with few
// segments between machines:
//
//   - each machine takes at most its share of the nodes, those the file
//     places included: nodes/machines, one more for the first
//     nodes%machines machines by name (a machine the file fills beyond
//     that takes no more);
//   - nodes are taken in breadth-first order over the lab's segments
//     (cables and bridges), starting from the first node by name, so
//     that neighbours come one after the other;
//   - a node goes to the machine with room that holds most of its
//     segments already (a cable's other end, or any member of a bridge
//     it is on), then to the machine with fewest nodes, then by name.
//
// A lab without hosts: gets nil.
func Place(l *Lab) Placement { return PlaceFrom(l, nil) }

// PlaceFrom places the nodes of a lab that runs already with placement
// prior: a node the file places (host:) goes there, a node that runs
// keeps its machine while the file still has that machine, and only the
// others are placed as Place does, so that a change to a running lab
// (a node added, a host: written) moves no node it does not name.
func PlaceFrom(l *Lab, prior Placement) Placement {
	if !l.MultiHost() {
		return nil
	}
	pl := Placement{}
	count := map[string]int{}
	for _, n := range l.Nodes {
		h := n.Host
		if h == "" && l.Machine(prior[n.Name]) != nil {
			h = prior[n.Name]
		}
		if h != "" {
			pl[n.Name] = h
			count[h]++
		}
	}
	limit := map[string]int{}
	for i, m := range l.Machines {
		limit[m.Name] = len(l.Nodes) / len(l.Machines)
		if i < len(l.Nodes)%len(l.Machines) {
			limit[m.Name]++
		}
	}
	g := segmentGraph(l)
	for _, name := range g.bfs(l) {
		if _, done := pl[name]; done {
			continue
		}
		best, bestScore := "", -1
		for _, m := range l.Machines {
			if count[m.Name] >= limit[m.Name] {
				continue
			}
			score := g.affinity(name, m.Name, pl)
			if best == "" || score > bestScore ||
				score == bestScore && count[m.Name] < count[best] {
				best, bestScore = m.Name, score
			}
		}
		if best == "" { // every machine full: the file placed too many
			best = slices.MinFunc(l.Machines, func(a, b *Machine) int {
				return cmp.Or(cmp.Compare(count[a.Name], count[b.Name]), strings.Compare(a.Name, b.Name))
			}).Name
		}
		pl[name] = best
		count[best]++
	}
	return pl
}

// nodeGraph is the lab's nodes and the segments between them: each node's
// cable peers (other nodes) and bridges.
type nodeGraph struct {
	peers   map[string][]string // node -> nodes at the far end of its cables
	bridges map[string][]string // node -> bridges it has a port on
	members map[string][]string // bridge -> nodes with a port on it
}

func segmentGraph(l *Lab) *nodeGraph {
	g := &nodeGraph{peers: map[string][]string{}, bridges: map[string][]string{}, members: map[string][]string{}}
	for _, lk := range l.Links {
		switch lk.Kind {
		case Peer:
			if lk.A.OnHost() || lk.B.OnHost() {
				continue
			}
			g.peers[lk.A.Node] = append(g.peers[lk.A.Node], lk.B.Node)
			g.peers[lk.B.Node] = append(g.peers[lk.B.Node], lk.A.Node)
		case Port:
			if lk.A.OnHost() {
				continue
			}
			g.bridges[lk.A.Node] = append(g.bridges[lk.A.Node], lk.Bridge.Name)
			g.members[lk.Bridge.Name] = append(g.members[lk.Bridge.Name], lk.A.Node)
		}
	}
	for _, m := range []map[string][]string{g.peers, g.bridges, g.members} {
		for k, v := range m {
			slices.Sort(v)
			m[k] = slices.Compact(v)
		}
	}
	return g
}

// bfs lists the nodes breadth-first over cables and bridges, each
// component from its first node by name, neighbours by name.
func (g *nodeGraph) bfs(l *Lab) []string {
	seen := map[string]bool{}
	var order []string
	for _, start := range l.Nodes {
		if seen[start.Name] {
			continue
		}
		seen[start.Name] = true
		queue := []string{start.Name}
		for len(queue) > 0 {
			n := queue[0]
			queue = queue[1:]
			order = append(order, n)
			var next []string
			next = append(next, g.peers[n]...)
			for _, b := range g.bridges[n] {
				next = append(next, g.members[b]...)
			}
			slices.Sort(next)
			for _, m := range next {
				if !seen[m] {
					seen[m] = true
					queue = append(queue, m)
				}
			}
		}
	}
	return order
}

// affinity counts the node's segments that already reach the machine: a
// cable whose other end is placed there, a bridge with a member there.
func (g *nodeGraph) affinity(node, machine string, pl Placement) int {
	score := 0
	for _, p := range g.peers[node] {
		if pl[p] == machine {
			score++
		}
	}
	for _, b := range g.bridges[node] {
		for _, m := range g.members[b] {
			if m != node && pl[m] == machine {
				score++
				break
			}
		}
	}
	return score
}

// Crossing is a segment of a lab across machines that spans more than
// one machine: carried between them in VXLAN.
type Crossing struct {
	// Segment is the bridge's name, or the cable as "a:eth0 -- b:eth0".
	Segment string
	// Machines are the machines with an end on the segment, by name.
	Machines []string
}

// Crossings lists the segments the placement puts on more than one
// machine: cables between nodes on different machines and bridges with
// members on several, sorted by segment.
func Crossings(l *Lab, pl Placement) []Crossing {
	var out []Crossing
	g := segmentGraph(l)
	for _, lk := range l.Links {
		if lk.Kind == Peer && !lk.A.OnHost() && !lk.B.OnHost() && pl[lk.A.Node] != pl[lk.B.Node] {
			ms := []string{pl[lk.A.Node], pl[lk.B.Node]}
			slices.Sort(ms)
			out = append(out, Crossing{Segment: lk.String(), Machines: ms})
		}
	}
	for _, b := range l.Bridges {
		var ms []string
		for _, n := range g.members[b.Name] {
			ms = append(ms, pl[n])
		}
		slices.Sort(ms)
		if ms = slices.Compact(ms); len(ms) > 1 {
			out = append(out, Crossing{Segment: b.Name, Machines: ms})
		}
	}
	slices.SortFunc(out, func(a, b Crossing) int { return strings.Compare(a.Segment, b.Segment) })
	return out
}

// String lists the placement as "node@machine ...", by node.
func (pl Placement) String() string {
	var b strings.Builder
	for _, n := range slices.Sorted(maps.Keys(pl)) {
		fmt.Fprintf(&b, "%s@%s ", n, pl[n])
	}
	return strings.TrimSpace(b.String())
}
