package plan

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/nslab/nslab/kernel"
	"github.com/nslab/nslab/topology"
)

// Partition plans splitting a running lab into groups of nodes that do
// not reach each other: every node of a group drops what comes from or
// goes to the addresses of the nodes of the other groups (a table in its
// own namespace, so it holds on a shared segment as across routers).
// Nodes in no group keep no table: a partition replaces the one before
// it whole. With no groups, it heals the lab: every node's table goes.
func Partition(lab *topology.Lab, groups [][]string) (*Plan, error) {
	return Filters(lab, groups, nil)
}

// Filters plans the node filters of a partition (see Partition) and of
// one-way blocks (see Block) at once: each node's table is written whole
// with what both ask of it, and a node that keeps nothing loses its table.
// With neither, it heals the lab.
func Filters(lab *topology.Lab, groups [][]string, blocks []Block) (*Plan, error) {
	p := &Plan{Lab: lab.Name}
	drops, err := partitionDrops(lab, groups)
	if err != nil {
		return nil, err
	}
	ins, err := blockRules(lab, blocks)
	if err != nil {
		return nil, err
	}
	var ops []kernel.Op
	for _, n := range lab.Nodes {
		ops = append(ops, &kernel.Partition{NS: NetnsName(lab.Name, n.Name), Drop: drops[n.Name], Block: ins[n.Name]})
	}
	what := "partitioned"
	switch {
	case len(groups) == 0 && len(blocks) == 0:
		what = "healed"
	case len(groups) == 0:
		what = "blocked"
	}
	p.add(what, ops)
	return p, nil
}

// blockRules lists, for each node a block drops into, what it drops.
func blockRules(lab *topology.Lab, blocks []Block) (map[string][]kernel.Block, error) {
	out := map[string][]kernel.Block{}
	for _, b := range blocks {
		if len(b.From) == 0 || len(b.To) == 0 {
			return nil, fmt.Errorf("a block needs nodes on both sides (from %v to %v)", b.From, b.To)
		}
		if b.Loss < 0 || b.Loss > 100 {
			return nil, fmt.Errorf("block %s: a loss is a percentage from 0 to 100", b)
		}
		for _, n := range append(slices.Clone(b.From), b.To...) {
			if lab.Node(n) == nil {
				return nil, fmt.Errorf("lab %s has no node %s", lab.Name, n)
			}
		}
		for _, n := range b.To {
			if slices.Contains(b.From, n) {
				return nil, fmt.Errorf("block %s: node %s is on both sides", b, n)
			}
		}
		var from []netip.Addr
		for _, n := range b.From {
			from = append(from, nodeAddrs(lab, n)...)
		}
		for _, n := range b.To {
			out[n] = append(out[n], kernel.Block{From: from, Loss: b.Loss})
		}
	}
	return out, nil
}

// nodeAddrs lists a node's addresses, link-local ones left out.
func nodeAddrs(lab *topology.Lab, node string) []netip.Addr {
	var out []netip.Addr
	for _, i := range lab.Node(node).Interfaces {
		for _, a := range i.Addresses {
			if !a.Addr().IsLinkLocalUnicast() {
				out = append(out, a.Addr())
			}
		}
	}
	return out
}

// partitionDrops lists, for each node of a partition, the addresses it
// drops: those of the nodes of the other groups.
func partitionDrops(lab *topology.Lab, groups [][]string) (map[string][]netip.Addr, error) {
	out := map[string][]netip.Addr{}
	if len(groups) == 0 {
		return out, nil
	}
	if len(groups) < 2 {
		return nil, fmt.Errorf("a partition needs two groups of nodes or more (got one: %s)", strings.Join(groups[0], ","))
	}
	groupOf := map[string]int{}
	for g, nodes := range groups {
		for _, name := range nodes {
			if lab.Node(name) == nil {
				return nil, fmt.Errorf("lab %s has no node %s", lab.Name, name)
			}
			if h, dup := groupOf[name]; dup {
				return nil, fmt.Errorf("node %s is in group %d and group %d: a node is in one group only", name, h+1, g+1)
			}
			groupOf[name] = g
		}
	}
	addrs := make([][]netip.Addr, len(groups))
	for g, nodes := range groups {
		for _, name := range nodes {
			addrs[g] = append(addrs[g], nodeAddrs(lab, name)...)
		}
	}
	for g, nodes := range groups {
		var drop []netip.Addr
		for h := range groups {
			if h != g {
				drop = append(drop, addrs[h]...)
			}
		}
		for _, name := range nodes {
			out[name] = drop
		}
	}
	return out, nil
}
