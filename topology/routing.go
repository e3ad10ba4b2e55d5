package topology

import (
	"cmp"
	"net/netip"
	"slices"
)

// Routing modes of a lab (the top-level routing key).
const (
	RoutingStatic = "static" // only the routes the file writes (the default)
	RoutingAuto   = "auto"   // nslab adds shortest-path static routes
)

// rtSeg is a segment as the route planner sees it: its subnets and who
// is on it, with each member's addresses.
type rtSeg struct {
	subnets []netip.Prefix
	members []rtMember
	gateway [2]netip.Addr // the host's address on a gateway bridge, by family
}

// rtMember is a member of a segment: the realm it routes in (see
// realmKey) and its addresses.
type rtMember struct {
	node  string
	addrs []netip.Prefix
}

// realmKey names a router realm: a node's main table ("r1"), or the
// table of one of its vrfs ("r1@red", as check names the vrf's stack).
// Each realm is a router of its own for the planner: the interfaces of a
// vrf reach only each other through the node.
func realmKey(node, vrf string) string {
	if vrf == "" {
		return node
	}
	return node + "@" + vrf
}

// rtRealm is a realm of a node, with the table its routes go in.
type rtRealm struct {
	key   string
	node  *Node
	vrf   string
	table int
}

// realmsOf lists a node's realms: its main table, then its vrfs by name.
func realmsOf(n *Node) []rtRealm {
	out := []rtRealm{{key: n.Name, node: n}}
	for _, i := range n.Interfaces {
		if i.Kind == KindVRF {
			out = append(out, rtRealm{key: realmKey(n.Name, i.Name), node: n, vrf: i.Name, table: i.Table})
		}
	}
	return out
}

// autoRoutes adds to every realm of every node (its main table, and each
// of its vrfs' tables), for every subnet of the lab the realm is not on,
// a route via the neighbour router on the shortest path there, and a
// default route toward the lab's gateway (a bridge with gateway: true)
// where the realm reaches one. Paths run through the realms of routers:
// a vrf's interfaces reach only the segments of the realms they are
// joined to, so no route leads from one vrf into another. A realm of a
// node that is not a router with a single router next to it gets a
// default route via that router instead of one route per subnet. Routes
// the file writes win: no route is added for a destination the realm's
// table already has.
func (p *parser) autoRoutes() {
	if p.lab.Routing != RoutingAuto {
		return
	}
	segs := p.rtSegments()
	routers := map[string]bool{}
	var realms []rtRealm
	for _, n := range p.lab.Nodes {
		for _, r := range realmsOf(n) {
			routers[r.key] = n.Router
			realms = append(realms, r)
		}
	}
	// on[realm] lists the segments a realm is on.
	on := map[string][]int{}
	for i, s := range segs {
		for _, m := range s.members {
			if !slices.Contains(on[m.node], i) {
				on[m.node] = append(on[m.node], i)
			}
		}
	}
	// For each destination segment, the distance of every router from it
	// (in router hops), by BFS over routers; computed once per segment.
	dist := func(from []int) map[string]int {
		d := map[string]int{}
		frontier := from
		seen := map[int]bool{}
		for _, s := range from {
			seen[s] = true
		}
		for hop := 0; len(frontier) > 0; hop++ {
			var next []int
			for _, si := range frontier {
				for _, m := range segs[si].members {
					if !routers[m.node] {
						continue
					}
					if _, ok := d[m.node]; ok {
						continue
					}
					d[m.node] = hop
					for _, sj := range on[m.node] {
						if !seen[sj] {
							seen[sj] = true
							next = append(next, sj)
						}
					}
				}
			}
			frontier = next
		}
		return d
	}
	gwSegs := [2][]int{}
	for i, s := range segs {
		for f := range 2 {
			if s.gateway[f].IsValid() {
				gwSegs[f] = append(gwSegs[f], i)
			}
		}
	}
	var toGW [2]map[string]int
	for f := range 2 {
		if len(gwSegs[f]) > 0 {
			toGW[f] = dist(gwSegs[f])
		}
	}
	toSeg := map[int]map[string]int{}
	distTo := func(ti int) map[string]int {
		if d, ok := toSeg[ti]; ok {
			return d
		}
		toSeg[ti] = dist([]int{ti})
		return toSeg[ti]
	}
	byNode := map[string]*nodeDecl{}
	for _, d := range p.nodeList {
		byNode[d.n.Name] = d
	}
	type tableDest struct {
		table int
		to    netip.Prefix
	}
	have := map[string]map[tableDest]bool{} // node -> routes of its tables
	for _, n := range p.lab.Nodes {
		have[n.Name] = map[tableDest]bool{}
		for _, r := range n.Routes {
			have[n.Name][tableDest{r.Table, r.To}] = true
		}
	}
	for _, rl := range realms {
		n, d := rl.node, byNode[rl.node.Name]
		add := func(to netip.Prefix, via netip.Addr) {
			k := tableDest{rl.table, to}
			if have[n.Name][k] {
				return
			}
			have[n.Name][k] = true
			r := Route{To: to, Via: via, Auto: true, VRF: rl.vrf, Table: rl.table, Pos: p.routingPos}
			n.Routes = append(n.Routes, r)
			if d != nil {
				d.routes = append(d.routes, &routeDecl{r: r, ok: true, hasTo: true, vrf: rl.vrf})
			}
		}
		p.realmRoutes(rl.key, n.Router, segs, on, routers, distTo, toGW, add)
	}
}

// realmRoutes computes the routes of one realm and hands each to add.
func (p *parser) realmRoutes(key string, router bool, segs []rtSeg, on map[string][]int, routers map[string]bool,
	distTo func(int) map[string]int, toGW [2]map[string]int, add func(netip.Prefix, netip.Addr)) {
	mine := on[key]
	if len(mine) == 0 {
		return
	}
	local := map[netip.Prefix]bool{}
	for _, si := range mine {
		for _, sub := range segs[si].subnets {
			local[sub] = true
		}
	}
	// A plain node with one router next to it: a default route.
	if !router {
		if r, ok := soleRouter(segs, mine, routers, key); ok {
			for f := range 2 {
				if via, ok := addrOn(segs, mine, r, f); ok {
					add(netip.PrefixFrom(zero(f), 0), via)
				}
			}
			return
		}
	}
	for f := range 2 {
		for ti, t := range segs {
			for _, sub := range t.subnets {
				if family(sub.Addr()) != f || local[sub] {
					continue
				}
				if via, ok := nextHop(segs, on, routers, distTo(ti), key, f, ti); ok {
					add(sub, via)
				}
			}
		}
		if toGW[f] == nil {
			continue
		}
		if slices.ContainsFunc(mine, func(si int) bool { return segs[si].gateway[f].IsValid() }) {
			for _, si := range mine {
				if gw := segs[si].gateway[f]; gw.IsValid() {
					add(netip.PrefixFrom(zero(f), 0), gw)
					break
				}
			}
			continue
		}
		if via, ok := nextHop(segs, on, routers, toGW[f], key, f, -1); ok {
			add(netip.PrefixFrom(zero(f), 0), via)
		}
	}
}

// nextHop picks, among the routers on the node's segments, the one
// nearest the destination (ties by name), and returns its address of
// family f on the shared segment.
func nextHop(segs []rtSeg, on map[string][]int, routers map[string]bool, dist map[string]int, node string, f, dst int) (netip.Addr, bool) {
	best, bestD := "", -1
	for _, si := range on[node] {
		for _, m := range segs[si].members {
			if m.node == node || !routers[m.node] {
				continue
			}
			dm, ok := dist[m.node]
			if !ok {
				continue
			}
			if _, ok := addrOn(segs, []int{si}, m.node, f); !ok {
				continue
			}
			if bestD < 0 || dm < bestD || dm == bestD && m.node < best {
				best, bestD = m.node, dm
			}
		}
	}
	if bestD < 0 {
		return netip.Addr{}, false
	}
	// Only a router closer than the node itself helps.
	if d, ok := dist[node]; ok && d <= bestD {
		return netip.Addr{}, false
	}
	return addrOn(segs, on[node], best, f)
}

// soleRouter returns the only router on the node's segments.
func soleRouter(segs []rtSeg, mine []int, routers map[string]bool, node string) (string, bool) {
	var found []string
	for _, si := range mine {
		for _, m := range segs[si].members {
			if m.node != node && routers[m.node] && !slices.Contains(found, m.node) {
				found = append(found, m.node)
			}
		}
	}
	return firstOf(found), len(found) == 1
}

func firstOf(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[0]
}

// addrOn returns an address of family f that node has on one of the
// segments, on the one shared first.
func addrOn(segs []rtSeg, among []int, node string, f int) (netip.Addr, bool) {
	for _, si := range among {
		for _, m := range segs[si].members {
			if m.node != node {
				continue
			}
			for _, a := range m.addrs {
				if family(a.Addr()) == f && !a.Addr().IsLinkLocalUnicast() {
					return a.Addr(), true
				}
			}
		}
	}
	return netip.Addr{}, false
}

func zero(f int) netip.Addr {
	if f == 0 {
		return netip.IPv4Unspecified()
	}
	return netip.IPv6Unspecified()
}

// rtSegments lists the segments with their global subnets and members.
func (p *parser) rtSegments() []rtSeg {
	var out []rtSeg
	for _, s := range p.lab.Segments() {
		var rs rtSeg
		for _, m := range s.Members {
			rs.members = append(rs.members, rtMember{node: realmKey(m.Node, m.VRF), addrs: m.Addresses})
			for _, a := range m.Addresses {
				if sub := a.Masked(); !a.Addr().IsLinkLocalUnicast() && !slices.Contains(rs.subnets, sub) {
					rs.subnets = append(rs.subnets, sub)
				}
			}
		}
		if s.Bridge != nil {
			for _, b := range p.lab.Bridges {
				if !b.Gateway {
					continue
				}
				for _, m := range s.Members {
					if m.Node == HostNode && m.Dev == b.Name {
						for _, a := range b.Auto {
							rs.gateway[family(a.Addr())] = a.Addr()
						}
					}
				}
			}
		}
		slices.SortFunc(rs.subnets, func(a, b netip.Prefix) int {
			return cmp.Or(a.Addr().Compare(b.Addr()), cmp.Compare(a.Bits(), b.Bits()))
		})
		out = append(out, rs)
	}
	return out
}

// AddressRealms numbers the lab's address realms (within one, every
// address is unique; see the vrf rules in docs/format.md) and says which
// one each routing realm is in, by its key: NODE for a node's main
// table, NODE@VRF for a vrf's (as check names them), HostNode for the
// host. A lab without vrfs is one realm. A realm on no segment is not
// listed.
func (l *Lab) AddressRealms() map[string]int {
	segs := l.Segments()
	realm := realms(segs)
	out := map[string]int{}
	for i, s := range segs {
		for _, m := range s.Members {
			out[realmKey(m.Node, m.VRF)] = realm[i]
		}
	}
	return out
}

// RealmKey names the routing realm an interface of a node routes in:
// NODE, or NODE@VRF for one in a vrf (directly, through its bond, or the
// vrf itself).
func (l *Lab) RealmKey(i *Interface) string {
	return realmKey(i.Node, l.member(i).VRF)
}
