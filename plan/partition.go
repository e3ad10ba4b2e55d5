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
	drops, scoped, err := partitionDrops(lab, groups)
	if err != nil {
		return nil, err
	}
	ins, err := blockRules(lab, blocks)
	if err != nil {
		return nil, err
	}
	var ops []kernel.Op
	for _, n := range lab.Nodes {
		ops = append(ops, &kernel.Partition{NS: NetnsName(lab.Name, n.Name), Drop: drops[n.Name], Scoped: scoped[n.Name], Block: ins[n.Name]})
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
	ra := newRealmAddrs(lab)
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
		for _, n := range b.To {
			var others []string
			for _, m := range lab.Nodes {
				if !slices.Contains(b.From, m.Name) {
					others = append(others, m.Name)
				}
			}
			from, scoped, err := ra.drops(n, b.From, others, fmt.Sprintf("block %s", b), true)
			if err != nil {
				return nil, err
			}
			if len(from) > 0 || len(scoped) == 0 {
				out[n] = append(out[n], kernel.Block{From: from, Loss: b.Loss})
			}
			for _, d := range scoped {
				out[n] = append(out[n], kernel.Block{From: d.Addrs, Loss: b.Loss, Devs: d.Devs})
			}
		}
	}
	return out, nil
}

// realmAddrs knows the addresses of a lab's nodes with the address
// realm each is in: with vrfs, two nodes may have one address in two
// realms (VRF-lite), and a node's filter, which matches addresses, must
// drop it only where it reaches the node it means.
type realmAddrs struct {
	lab    *topology.Lab
	realms map[string]int // routing realm (NODE, NODE@VRF) -> address realm
	addrs  map[string][]realmAddr
}

// realmAddr is an address of a node, with its routing realm (NODE or
// NODE@VRF) and its address realm (-1: unknown, as in every realm).
type realmAddr struct {
	addr  netip.Addr
	key   string
	realm int
}

func newRealmAddrs(lab *topology.Lab) *realmAddrs {
	r := &realmAddrs{lab: lab, realms: lab.AddressRealms(), addrs: map[string][]realmAddr{}}
	for _, n := range lab.Nodes {
		for _, i := range n.Interfaces {
			key := lab.RealmKey(i)
			realm, ok := r.realms[key]
			if !ok {
				realm = -1
			}
			for _, a := range i.Addresses {
				if !a.Addr().IsLinkLocalUnicast() {
					r.addrs[n.Name] = append(r.addrs[n.Name], realmAddr{a.Addr(), key, realm})
				}
			}
		}
	}
	return r
}

// drops lists what node's filter drops to keep it from the nodes of
// drop: their addresses in the realms node is in. An address that one
// of keep (the nodes node must still reach, itself included) has in
// another realm of node cannot be told apart by address: with scope, it
// is dropped only through the interfaces of its realm (a vrf and its
// members); without, that is an error that names both vrfs. what names
// the fault in messages.
func (r *realmAddrs) drops(node string, drop, keep []string, what string, scope bool) ([]netip.Addr, []kernel.ScopedDrop, error) {
	mine := map[int]string{} // address realm -> node's routing realm in it
	for _, a := range r.addrs[node] {
		if _, ok := mine[a.realm]; !ok {
			mine[a.realm] = a.key
		}
	}
	in := func(a realmAddr) bool {
		_, ok := mine[a.realm]
		return ok || a.realm < 0 || len(mine) == 0 || mine[-1] != ""
	}
	kept := map[netip.Addr]realmAddr{}
	keepers := map[netip.Addr]string{}
	for _, k := range append([]string{node}, keep...) {
		for _, a := range r.addrs[k] {
			if _, dup := kept[a.addr]; !dup && in(a) {
				kept[a.addr], keepers[a.addr] = a, k
			}
		}
	}
	var out []netip.Addr
	var scoped []kernel.ScopedDrop
	scopeOf := map[string]int{} // routing realm -> its entry in scoped
	for _, d := range drop {
		for _, a := range r.addrs[d] {
			if !in(a) || slices.Contains(out, a.addr) {
				continue
			}
			if k, clash := kept[a.addr]; clash && k.realm != a.realm && scope && mine[a.realm] != "" {
				key := mine[a.realm]
				i, ok := scopeOf[key]
				if !ok {
					i = len(scoped)
					scopeOf[key] = i
					scoped = append(scoped, kernel.ScopedDrop{Devs: r.devs(node, key)})
				}
				if !slices.Contains(scoped[i].Addrs, a.addr) {
					scoped[i].Addrs = append(scoped[i].Addrs, a.addr)
				}
				continue
			}
			if k, clash := kept[a.addr]; clash && k.realm != a.realm {
				return nil, nil, fmt.Errorf("%s: node %s cannot tell %s from %s: both have %s, %s in %s and %s in %s; %s's filter matches addresses only: give them different addresses, or keep them on one side",
					what, node, d, keepers[a.addr], a.addr, d, realmName(mine[a.realm]), keepers[a.addr], realmName(mine[k.realm]), node)
			}
			out = append(out, a.addr)
		}
	}
	return out, scoped, nil
}

// devs lists, by name, the interfaces of node that route in the realm
// key: a vrf and its members.
func (r *realmAddrs) devs(node, key string) []string {
	var out []string
	for _, i := range r.lab.Node(node).Interfaces {
		if r.lab.RealmKey(i) == key {
			out = append(out, i.Name)
		}
	}
	slices.Sort(out)
	return out
}

// realmName says which table of a node a routing realm is: "vrf red of
// pe" for pe@red, "the main table of pe" for pe.
func realmName(key string) string {
	node, vrf, ok := strings.Cut(key, "@")
	if !ok {
		return "the main table of " + node
	}
	return "vrf " + vrf + " of " + node
}

// partitionDrops lists, for each node of a partition, the addresses it
// drops: those of the nodes of the other groups, and those it drops
// through some of its interfaces only (see realmAddrs.drops).
func partitionDrops(lab *topology.Lab, groups [][]string) (map[string][]netip.Addr, map[string][]kernel.ScopedDrop, error) {
	out, in := map[string][]netip.Addr{}, map[string][]kernel.ScopedDrop{}
	if len(groups) == 0 {
		return out, in, nil
	}
	if len(groups) < 2 {
		return nil, nil, fmt.Errorf("a partition needs two groups of nodes or more (got one: %s)", strings.Join(groups[0], ","))
	}
	groupOf := map[string]int{}
	for g, nodes := range groups {
		for _, name := range nodes {
			if lab.Node(name) == nil {
				return nil, nil, fmt.Errorf("lab %s has no node %s", lab.Name, name)
			}
			if h, dup := groupOf[name]; dup {
				return nil, nil, fmt.Errorf("node %s is in group %d and group %d: a node is in one group only", name, h+1, g+1)
			}
			groupOf[name] = g
		}
	}
	ra := newRealmAddrs(lab)
	for g, nodes := range groups {
		var others []string
		for h := range groups {
			if h != g {
				others = append(others, groups[h]...)
			}
		}
		var keep []string // every node the group still reaches
		for _, n := range lab.Nodes {
			if !slices.Contains(others, n.Name) {
				keep = append(keep, n.Name)
			}
		}
		for _, name := range nodes {
			drop, scoped, err := ra.drops(name, others, keep, "partition", true)
			if err != nil {
				return nil, nil, err
			}
			out[name] = drop
			if len(scoped) > 0 {
				in[name] = scoped
			}
		}
	}
	return out, in, nil
}
