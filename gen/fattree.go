package gen

import (
	"fmt"
	"net/netip"
	"strconv"
)

// FatTree is the k-ary fat-tree of Al-Fares et al. made of routers: k
// pods, each with k/2 edge routers e<p>-<i> and k/2 aggregation routers
// a<p>-<j> cabled in a full mesh; (k/2)^2 core routers c<n>, aggregation
// router j of every pod cabled to cores (j-1)k/2+1 … jk/2; and k/2 hosts
// h<p>-<i>-<h> on a bridge lan<p>-<i> under each edge router.
//
// Static routes, all deterministic: an edge router goes up by default via
// one aggregation router; an aggregation router routes its pod's edge
// subnets down and goes up by default via one core; a core routes each
// pod's block down via the pod's aggregation router it is cabled to.
type FatTree struct {
	K int
}

// Kind returns "fat-tree".
func (FatTree) Kind() string { return "fat-tree" }

func (t FatTree) size() string { return strconv.Itoa(t.K) }

func (t FatTree) build(v6 bool) (*lab, error) {
	if err := t.check(); err != nil {
		return nil, err
	}
	p := podPlan{half: t.K / 2, pods: t.K, v6: v6}
	cores := p.half * p.half
	l := &lab{nodes: make([]node, cores, cores+t.K*t.K+t.K*t.K*t.K/4)}
	for c := range l.nodes {
		l.nodes[c] = node{name: coreName(c + 1), router: true, routes: p.coreRoutes(c + 1)}
	}
	for pod := 1; pod <= t.K; pod++ {
		p.pod(l, pod)
	}
	l.about = p.describe()
	return l, nil
}

func (t FatTree) check() error {
	if err := atLeast("--k", t.K, 2); err != nil {
		return err
	}
	if t.K%2 != 0 {
		return fmt.Errorf("--k is %d; it must be even", t.K)
	}
	if err := atMost("--k", t.K, 126, "the addressing plan numbers edge routers below 64 in each pod"); err != nil {
		return err
	}
	k := t.K
	return checkCount("the fat-tree", k*k/4+k*k+k*k*k/4+k*k/2)
}

func coreName(c int) string      { return "c" + strconv.Itoa(c) }
func aggName(pod, j int) string  { return "a" + strconv.Itoa(pod) + "-" + strconv.Itoa(j) }
func edgeName(pod, i int) string { return "e" + strconv.Itoa(pod) + "-" + strconv.Itoa(i) }
func lanName(pod, i int) string  { return "lan" + strconv.Itoa(pod) + "-" + strconv.Itoa(i) }

// podPlan is the addressing of a fat-tree: pod p owns 10.p.0.0/16 and
// fd10:p::/32, in which the third IPv4 octet and the third IPv6 group
// hold the same number: edge i's LAN is i, the cables of edge i to the
// aggregation routers are 128+i, and those of aggregation router j to
// its cores are 64+j.
type podPlan struct {
	half, pods int
	v6         bool
}

// net returns subnet x of pod p: 10.p.x.0/24 and fd10:p:x::/64.
func (p podPlan) net(pod, x int) family[netip.Prefix] {
	f := family[netip.Prefix]{v4: netip.PrefixFrom(v4(10, pod, x, 0), 24)}
	if p.v6 {
		f.v6 = netip.PrefixFrom(v6addr(0xfd10, pod, x), 64)
	}
	return f
}

// block returns all of pod p: 10.p.0.0/16 and fd10:p::/32.
func (p podPlan) block(pod int) family[netip.Prefix] {
	f := family[netip.Prefix]{v4: netip.PrefixFrom(v4(10, pod, 0, 0), 16)}
	if p.v6 {
		f.v6 = netip.PrefixFrom(v6addr(0xfd10, pod), 32)
	}
	return f
}

// edgeUplink returns the aggregation (even) and edge ends of the cable
// between edge i and aggregation router j of a pod.
func (p podPlan) edgeUplink(pod, i, j int) (family[netip.Prefix], family[netip.Prefix]) {
	return pair(addrsOf(p.net(pod, 128+i)), j-1)
}

// aggUplink returns the core (even) and aggregation ends of the cable
// between aggregation router j of a pod and its m-th core.
func (p podPlan) aggUplink(pod, j, m int) (family[netip.Prefix], family[netip.Prefix]) {
	return pair(addrsOf(p.net(pod, 64+j)), m-1)
}

// core returns the number of the m-th core of aggregation router j.
func (p podPlan) core(j, m int) int { return (j-1)*p.half + m }

// pod adds the aggregation and edge routers, bridges and hosts of a pod,
// and the cores' ends of its cables.
func (p podPlan) pod(l *lab, pod int) {
	for j := 1; j <= p.half; j++ {
		l.nodes = append(l.nodes, p.agg(pod, j, l.nodes))
	}
	for i := 1; i <= p.half; i++ {
		lan := lanName(pod, i)
		l.bridges = append(l.bridges, bridge{name: lan})
		l.nodes = append(l.nodes, p.edge(pod, i))
		gw := addrsOf(nths(p.net(pod, i), 1))
		for h := 1; h <= p.half; h++ {
			name := "h" + strconv.Itoa(pod) + "-" + strconv.Itoa(i) + "-" + strconv.Itoa(h)
			l.nodes = append(l.nodes, host(name, lan, nths(p.net(pod, i), 1+h), gw))
		}
	}
}

// agg returns aggregation router j of a pod with its cables to its cores,
// whose ends it adds to the core nodes (the first of nodes).
func (p podPlan) agg(pod, j int, nodes []node) node {
	n := node{name: aggName(pod, j), router: true}
	for m := 1; m <= p.half; m++ {
		c := p.core(j, m)
		core, agg := p.aggUplink(pod, j, m)
		mine, theirs := cable(n.name, coreName(c), agg, core)
		n.ifaces = append(n.ifaces, mine)
		nodes[c-1].ifaces = append(nodes[c-1].ifaces, theirs)
	}
	for i := 1; i <= p.half; i++ {
		agg, edge := p.edgeUplink(pod, i, j)
		_, mine := cable(edgeName(pod, i), n.name, edge, agg)
		n.ifaces = append(n.ifaces, mine)
	}
	n.routes = p.aggRoutes(pod, j)
	return n
}

// aggRoutes: down to each edge's LAN and cables via that edge; to the
// other aggregation routers' core cables via edge 1; up by default via
// core ((pod-1) mod k/2)+1 of its group.
func (p podPlan) aggRoutes(pod, j int) []route {
	var out []route
	for i := 1; i <= p.half; i++ {
		_, edge := p.edgeUplink(pod, i, j)
		out = append(out, routesTo(p.net(pod, i), addrsOf(edge))...)
		out = append(out, routesTo(p.net(pod, 128+i), addrsOf(edge))...)
	}
	_, edge1 := p.edgeUplink(pod, 1, j)
	for o := 1; o <= p.half; o++ {
		if o != j {
			out = append(out, routesTo(p.net(pod, 64+o), addrsOf(edge1))...)
		}
	}
	core, _ := p.aggUplink(pod, j, (pod-1)%p.half+1)
	return append(out, defaults(addrsOf(core))...)
}

// edge returns edge router i of a pod with its LAN and its cables to the
// aggregation routers.
func (p podPlan) edge(pod, i int) node {
	n := node{name: edgeName(pod, i), router: true}
	n.ifaces = append(n.ifaces, iface{name: "eth0", link: lanName(pod, i), addrs: nths(p.net(pod, i), 1).list()})
	for j := 1; j <= p.half; j++ {
		agg, edge := p.edgeUplink(pod, i, j)
		mine, _ := cable(n.name, aggName(pod, j), edge, agg)
		n.ifaces = append(n.ifaces, mine)
	}
	n.routes = p.edgeRoutes(pod, i)
	return n
}

// edgeRoutes: to each aggregation router's core cables via that router,
// and by default via aggregation router ((i-1) mod k/2)+1.
func (p podPlan) edgeRoutes(pod, i int) []route {
	up := (i-1)%p.half + 1
	var out []route
	for j := 1; j <= p.half; j++ {
		if j != up {
			agg, _ := p.edgeUplink(pod, i, j)
			out = append(out, routesTo(p.net(pod, 64+j), addrsOf(agg))...)
		}
	}
	agg, _ := p.edgeUplink(pod, i, up)
	return append(out, defaults(addrsOf(agg))...)
}

// coreRoutes: each pod's block via the pod's aggregation router that the
// core is cabled to.
func (p podPlan) coreRoutes(c int) []route {
	j, m := (c-1)/p.half+1, (c-1)%p.half+1
	out := make([]route, 0, 2*p.pods)
	for pod := 1; pod <= p.pods; pod++ {
		_, agg := p.aggUplink(pod, j, m)
		out = append(out, routesTo(p.block(pod), addrsOf(agg))...)
	}
	return out
}

func (p podPlan) describe() string {
	k, v6 := 2*p.half, ""
	if p.v6 {
		v6 = " and fd10:<p hex>::/32 (the third group of an IPv6 subnet is, in hex, the third octet of its IPv4 twin)"
	}
	return fmt.Sprintf("a fat-tree of routers with k=%d: %d pods, each with %s e<p>-<i> and %s a<p>-<j> cabled in a full mesh; %s c<n>, aggregation router j of every pod cabled to the j-th group of %d cores; %s h<p>-<i>-<h> on a bridge lan<p>-<i> under each edge router, %s in all. Pod p owns 10.p.0.0/16%s: edge i's LAN is 10.p.i.0/24 (the edge .1, hosts from .2), its cables to the aggregation routers are /31s in 10.p.(128+i).0/24, and the cables of aggregation router j to its cores are /31s in 10.p.(64+j).0/24, the even address on the upper router. Edge routers go up by default via one aggregation router, aggregation routers route their pod down and go up by default via one core, cores route each pod via the aggregation router they are cabled to, so every node reaches every address.",
		k, k, count(p.half, "edge router"), count(p.half, "aggregation router"), count(p.half*p.half, "core router"), p.half,
		count(p.half, "host"), count(k*k*k/4, "host"), v6)
}

// count returns "1 host" or "n hosts".
func count(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return strconv.Itoa(n) + " " + what + "s"
}
