package topology

import (
	"fmt"
	"slices"
	"strings"
)

// trunks turns the link keys of bridges into Trunk links, then rejects
// loops among them.
func (r *resolver) trunks() {
	for _, d := range r.p.bridges {
		if d.link != "" {
			r.trunk(d)
		}
	}
	r.p.checkLoops()
}

// trunk joins bridge d to the bridge its link key names.
func (r *resolver) trunk(d *bridgeDecl) {
	u, err := r.uplink(d)
	if err != nil {
		r.p.errorf(d.linkPos, "link %s -- %s: %v", d.b.Name, d.link, err)
		return
	}
	d.up = u
	r.ports[d.b]++
	r.ports[u.b]++
	r.p.lab.Links = append(r.p.lab.Links, &Link{Kind: Trunk, Bridge: d.b, Uplink: u.b, Pos: d.linkPos})
}

func (r *resolver) uplink(d *bridgeDecl) (*bridgeDecl, error) {
	if node, _, isIf := strings.Cut(d.link, ":"); isIf {
		return nil, fmt.Errorf("a bridge links to another bridge only; to plug node %s into %s, write link: %s on the node's interface",
			node, d.b.Name, d.b.Name)
	}
	u, ok := r.bridges[d.link]
	switch {
	case !ok:
		return nil, r.noBridge(d)
	case u == d:
		return nil, fmt.Errorf("a bridge cannot link to itself")
	}
	return u, nil
}

func (r *resolver) noBridge(d *bridgeDecl) error {
	msg := fmt.Sprintf("no bridge named %q %s", d.link, choices("bridges", d.link, names(r.p.lab.Bridges, bridgeName)))
	if _, ok := r.nodes[d.link]; ok {
		msg += fmt.Sprintf("; %s is a node: plug it into %s with link: %s on its interface", d.link, d.b.Name, d.b.Name)
	}
	return fmt.Errorf("%s", msg)
}

// checkLoops rejects trunks that join bridges in a loop: nslab's bridges
// run no spanning tree, so a loop would flood frames forever. Each bridge
// has at most one link, so following the links from every bridge finds
// each loop in O(bridges).
func (p *parser) checkLoops() {
	const (
		unseen = iota
		onPath
		done
	)
	state := make(map[*bridgeDecl]int, len(p.bridges))
	for _, d := range p.bridges {
		var path []*bridgeDecl
		for b := d; b != nil && state[b] == unseen; b = b.up {
			state[b] = onPath
			path = append(path, b)
		}
		if last := len(path) - 1; last >= 0 && path[last].up != nil && state[path[last].up] == onPath {
			p.loop(path[slices.Index(path, path[last].up):])
		}
		for _, b := range path {
			state[b] = done
		}
	}
}

// loop reports a loop of trunks at the link written last, with the path
// that starts there.
func (p *parser) loop(cycle []*bridgeDecl) {
	last := 0
	for i, d := range cycle {
		if comparePos(d.linkPos, cycle[last].linkPos) > 0 {
			last = i
		}
	}
	cycle = slices.Concat(cycle[last:], cycle[:last])
	path := names(cycle, func(d *bridgeDecl) string { return d.b.Name })
	if len(path) > 10 {
		path = append(path[:9], "...")
	}
	others := names(cycle[1:], func(d *bridgeDecl) string { return fmt.Sprintf("%s at %s", d.b.Name, d.linkPos) })
	d := cycle[0]
	p.errorf(d.linkPos, "link %s -- %s: bridges %s -> %s form a loop, which floods frames forever (bridges run no STP); remove this link or another of the loop (%s)",
		d.b.Name, d.link, strings.Join(path, " -> "), d.b.Name, quoteList(others))
}
