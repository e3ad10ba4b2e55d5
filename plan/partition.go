package plan

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/nslab/nslab/kernel"
	"github.com/nslab/nslab/topology"
)

// Partition plans splitting a running lab into groups of nodes that do
// not reach each other: every node of a group drops what comes from or
// goes to the addresses of the nodes of the other groups (a table in its
// own namespace, so it holds on a shared segment as across routers).
// Nodes in no group are left as they are. With no groups, it heals the
// lab: every node's table goes.
func Partition(lab *topology.Lab, groups [][]string) (*Plan, error) {
	p := &Plan{Lab: lab.Name}
	var ops []kernel.Op
	if len(groups) == 0 {
		for _, n := range lab.Nodes {
			ops = append(ops, &kernel.Partition{NS: NetnsName(lab.Name, n.Name)})
		}
		p.add("healed", ops)
		return p, nil
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
			for _, i := range lab.Node(name).Interfaces {
				for _, a := range i.Addresses {
					if !a.Addr().IsLinkLocalUnicast() {
						addrs[g] = append(addrs[g], a.Addr())
					}
				}
			}
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
			ops = append(ops, &kernel.Partition{NS: NetnsName(lab.Name, name), Drop: drop})
		}
	}
	p.add("partitioned", ops)
	return p, nil
}
