package gen

import (
	"fmt"
	"math/bits"
	"net/netip"
	"strconv"

	"github.com/nslab/nslab/topology"
)

// LeafSpine is a routed two-tier fabric: spine routers sp1 … spS, leaf
// routers lf1 … lfL, a point-to-point cable from every leaf to every
// spine, and on each leaf a bridge lan<l> with hosts h<l>-1 … h<l>-H.
//
// Hosts route by default via their leaf. Leaf l reaches leaf m's subnet
// via spine ((l+m) mod S)+1, the same spine both ways, so return paths
// match even under strict reverse-path filtering. Spines route each leaf
// subnet via that leaf. The cables of each spine form one block that
// every leaf routes via that spine, and spines reach each other's blocks
// through a leaf.
type LeafSpine struct {
	Spines, Leaves, HostsPerLeaf int
}

// Kind returns "leaf-spine".
func (LeafSpine) Kind() string { return "leaf-spine" }

func (f LeafSpine) size() string {
	return strconv.Itoa(f.Spines) + "-" + strconv.Itoa(f.Leaves) + "-" + strconv.Itoa(f.HostsPerLeaf)
}

func (f LeafSpine) build(v6 bool) (*lab, error) {
	p, err := f.plan(v6)
	if err != nil {
		return nil, err
	}
	l := &lab{bridges: make([]bridge, 0, f.Leaves), nodes: make([]node, f.Spines, f.Spines+f.Leaves*(1+f.HostsPerLeaf))}
	for s := range l.nodes {
		l.nodes[s] = node{name: spineName(s + 1), router: true, ifaces: make([]iface, 0, f.Leaves), routes: p.spineRoutes(s + 1)}
	}
	for i := 1; i <= f.Leaves; i++ {
		l.bridges = append(l.bridges, bridge{name: "lan" + strconv.Itoa(i)})
		l.nodes = append(l.nodes, p.leaf(i, l.nodes[:f.Spines]))
		gw := addrsOf(nths(p.subnet(i), 1))
		for j := 1; j <= f.HostsPerLeaf; j++ {
			name := "h" + strconv.Itoa(i) + "-" + strconv.Itoa(j)
			l.nodes = append(l.nodes, host(name, "lan"+strconv.Itoa(i), nths(p.subnet(i), 1+j), gw))
		}
	}
	l.about = p.describe()
	return l, nil
}

func spineName(s int) string { return "sp" + strconv.Itoa(s) }
func leafName(l int) string  { return "lf" + strconv.Itoa(l) }

// fabricPlan is the addressing of a leaf-spine fabric.
type fabricPlan struct {
	LeafSpine
	v6       bool
	leafBits int // prefix length of an IPv4 leaf subnet
	linkBits int // prefix length of a spine's IPv4 block of cables
}

func (f LeafSpine) plan(v6 bool) (fabricPlan, error) {
	p := fabricPlan{LeafSpine: f, v6: v6, leafBits: 24, linkBits: 24}
	for _, c := range []struct {
		flag   string
		v, min int
	}{{"--spines", f.Spines, 1}, {"--leaves", f.Leaves, 1}, {"--hosts-per-leaf", f.HostsPerLeaf, 1}} {
		if err := atLeast(c.flag, c.v, c.min); err != nil {
			return p, err
		}
	}
	if err := atMost("--hosts-per-leaf", f.HostsPerLeaf, 1023, "a leaf's bridge holds at most 1024 ports, the leaf's own included"); err != nil {
		return p, err
	}
	if err := checkCount("the fabric", f.Spines+f.Leaves+f.Leaves*f.HostsPerLeaf); err != nil {
		return p, err
	}
	if err := p.checkRoutes(); err != nil {
		return p, err
	}
	for hostCapacity(netip.PrefixFrom(v4(10, 0, 0, 0), p.leafBits)) < uint64(f.HostsPerLeaf+1) {
		p.leafBits--
	}
	p.linkBits = min(24, 32-bits.Len(uint(2*f.Leaves-1)))
	return p, p.checkPools()
}

// routeBytes is the fewest bytes a route takes in the file.
const routeBytes = 40

// checkRoutes rejects, before building them, fabrics whose routes alone
// would not fit in a topology file: every leaf routes every other leaf's
// subnet, so routes grow with the square of the leaves.
func (p fabricPlan) checkRoutes() error {
	fams := 1
	if p.v6 {
		fams = 2
	}
	l, s := p.Leaves, p.Spines
	routes := fams * (l*(l-1+s) + s*(l+s-1) + l*p.HostsPerLeaf)
	if routes > topology.MaxFileSize/routeBytes {
		return fmt.Errorf("%d leaves need %d static routes (each leaf routes every other leaf's subnet), more than a %d MiB topology file holds: use fewer leaves and more hosts per leaf",
			l, routes, topology.MaxFileSize>>20)
	}
	return nil
}

// checkPools checks that the leaf subnets fit below 10.255.0.0 and the
// cables in 10.255.0.0/16.
func (p fabricPlan) checkPools() error {
	if (p.Leaves+1)<<(32-p.leafBits) > 255<<16 {
		return fmt.Errorf("%d leaf subnets of /%d do not fit in 10.0.0.0 to 10.254.255.255: use fewer leaves or hosts", p.Leaves, p.leafBits)
	}
	if (p.Spines+1)<<(32-p.linkBits) > 1<<16 {
		return fmt.Errorf("%d spines with a /%d of cables each do not fit in 10.255.0.0/16: use fewer spines or leaves", p.Spines, p.linkBits)
	}
	return nil
}

// subnet returns leaf l's subnets: the l-th IPv4 block from 10.0.0.0 and
// fd10:l::/64.
func (p fabricPlan) subnet(l int) family[netip.Prefix] {
	f := family[netip.Prefix]{v4: block(v4(10, 0, 0, 0), p.leafBits, l)}
	if p.v6 {
		f.v6 = netip.PrefixFrom(v6addr(0xfd10, l), 64)
	}
	return f
}

// links returns spine s's block of cables: 10.255.0.0 plus s blocks, and
// fd10:0:s::/64.
func (p fabricPlan) links(s int) family[netip.Prefix] {
	f := family[netip.Prefix]{v4: block(v4(10, 255, 0, 0), p.linkBits, s)}
	if p.v6 {
		f.v6 = netip.PrefixFrom(v6addr(0xfd10, 0, s), 64)
	}
	return f
}

// cable returns the spine (even) and leaf ends of the cable from spine s
// to leaf l.
func (p fabricPlan) cable(s, l int) (family[netip.Prefix], family[netip.Prefix]) {
	return pair(addrsOf(p.links(s)), l-1)
}

func (p fabricPlan) leaf(l int, spines []node) node {
	n := node{name: leafName(l), router: true, ifaces: make([]iface, 0, 1+p.Spines)}
	n.ifaces = append(n.ifaces, iface{name: "eth0", link: "lan" + strconv.Itoa(l), addrs: nths(p.subnet(l), 1).list()})
	for s := 1; s <= p.Spines; s++ {
		spine, leaf := p.cable(s, l)
		mine, theirs := cable(n.name, spineName(s), leaf, spine)
		n.ifaces = append(n.ifaces, mine)
		spines[s-1].ifaces = append(spines[s-1].ifaces, theirs)
	}
	n.routes = p.leafRoutes(l)
	return n
}

// leafRoutes: each other leaf's subnet via the spine of the pair, each
// spine's block of cables via that spine.
func (p fabricPlan) leafRoutes(l int) []route {
	out := make([]route, 0, 2*(p.Leaves-1+p.Spines))
	for m := 1; m <= p.Leaves; m++ {
		if m != l {
			spine, _ := p.cable((l+m)%p.Spines+1, l)
			out = append(out, routesTo(p.subnet(m), addrsOf(spine))...)
		}
	}
	for s := 1; s <= p.Spines; s++ {
		spine, _ := p.cable(s, l)
		out = append(out, routesTo(p.links(s), addrsOf(spine))...)
	}
	return out
}

// spineRoutes: each leaf subnet via that leaf, each other spine's block
// of cables via leaf ((s+t) mod L)+1.
func (p fabricPlan) spineRoutes(s int) []route {
	out := make([]route, 0, 2*(p.Leaves+p.Spines-1))
	for l := 1; l <= p.Leaves; l++ {
		_, leaf := p.cable(s, l)
		out = append(out, routesTo(p.subnet(l), addrsOf(leaf))...)
	}
	for t := 1; t <= p.Spines; t++ {
		if t != s {
			_, leaf := p.cable(s, (s+t)%p.Leaves+1)
			out = append(out, routesTo(p.links(t), addrsOf(leaf))...)
		}
	}
	return out
}

func (p fabricPlan) describe() string {
	v6 := func(s string) string {
		if p.v6 {
			return s
		}
		return ""
	}
	return fmt.Sprintf("a routed leaf-spine fabric: %d spines, sp1 to sp%d, and %d leaves, lf1 to lf%d, with a cable from every leaf to every spine; each leaf l has a bridge lan<l> with %d hosts, h<l>-1 to h<l>-%d. Leaf l's subnet is the l-th /%d from 10.0.0.0%s, with the leaf first. The cables of spine s are /31s in the s-th /%d from 10.255.0.0%s, the even address on the spine. Hosts route via their leaf, leaf l reaches leaf m via spine ((l+m) mod %d)+1 (the same both ways), and spines route each leaf subnet via that leaf, so every node reaches every address.",
		p.Spines, p.Spines, p.Leaves, p.Leaves, p.HostsPerLeaf, p.HostsPerLeaf, p.leafBits, v6(" and fd10:<l>::/64 (l in hex)"), p.linkBits, v6(" and /127s in fd10:0:<s>::/64"), p.Spines)
}
