package gen

import (
	"fmt"
	"net/netip"
	"strconv"
)

// Tree is Mininet's tree topology (mn --topo tree,DEPTH,FANOUT) made of
// Linux bridges: bridge s1 is the root, each bridge above the last level
// has Fanout child bridges, joined to it by trunks, and each bridge of the
// last level has Fanout hosts: Fanout^Depth hosts on one layer-2 segment,
// in one subnet. As in Mininet, bridges and hosts are numbered depth
// first: s1, then s2 and its subtree, and so on.
type Tree struct {
	Depth, Fanout int
	// Subnet, Subnet6 and Host are as in Star; the host side is s1's.
	Subnet, Subnet6 netip.Prefix
	Host            bool
}

// Kind returns "tree".
func (Tree) Kind() string { return "tree" }

func (t Tree) size() string { return strconv.Itoa(t.Depth) + "-" + strconv.Itoa(t.Fanout) }

func (t Tree) build(v6 bool) (*lab, error) {
	hosts, bridges, err := t.counts()
	if err != nil {
		return nil, err
	}
	seg, err := newSegment(t.Subnet, t.Subnet6, v6, t.Host, hosts)
	if err != nil {
		return nil, err
	}
	b := &treeBuilder{t: t, seg: seg, l: &lab{bridges: make([]bridge, 0, bridges), nodes: make([]node, 0, hosts)}}
	b.add(t.Depth, "")
	b.l.bridges[0].addrs = seg.bridgeAddrs()
	b.l.about = fmt.Sprintf("Mininet's tree topology of depth %d and fanout %d made of Linux bridges: %d bridges, s1 (the root) to s%d, numbered depth first as Mininet does and joined by trunks; %d hosts, h1 to h%d, %d on each bridge of the last level. One layer-2 segment. %s",
		t.Depth, t.Fanout, bridges, bridges, hosts, hosts, t.Fanout, seg.describe("s1"))
	return b.l, nil
}

// counts returns the number of hosts (Fanout^Depth) and bridges.
func (t Tree) counts() (hosts, bridges int, err error) {
	if err := atLeast("--depth", t.Depth, 1); err != nil {
		return 0, 0, err
	}
	if err := atLeast("--fanout", t.Fanout, 1); err != nil {
		return 0, 0, err
	}
	if err := atMost("--fanout", t.Fanout, 1023, "a bridge holds at most 1024 ports, its uplink included"); err != nil {
		return 0, 0, err
	}
	level := 1 // bridges on the current level
	for d := 0; d < t.Depth; d++ {
		bridges += level
		level *= t.Fanout
		if err := checkCount("the tree", bridges+level); err != nil {
			return 0, 0, err
		}
	}
	return level, bridges, nil
}

type treeBuilder struct {
	t   Tree
	seg segment
	l   *lab
}

// add adds a subtree of the given depth under bridge parent ("" for the
// root): a bridge and its subtrees, or a host at depth 0.
func (b *treeBuilder) add(depth int, parent string) {
	if depth == 0 {
		i := len(b.l.nodes) + 1
		b.l.nodes = append(b.l.nodes, host("h"+strconv.Itoa(i), parent, b.seg.at(i), family[netip.Addr]{}))
		return
	}
	name := "s" + strconv.Itoa(len(b.l.bridges)+1)
	b.l.bridges = append(b.l.bridges, bridge{name: name, link: parent})
	for range b.t.Fanout {
		b.add(depth-1, name)
	}
}
