package gen

import (
	"fmt"
	"net/netip"
	"strconv"
)

// Line is a line of routers r1 … rN joined by point-to-point cables. Each
// router has a LAN, bridge lan<i>, with one host h<i>. Routers route every
// subnet they are not on toward its side of the line; hosts route by
// default via their router.
type Line struct {
	Routers int
}

// MaxLineRouters is the longest line in which every host reaches every
// other: a packet from h1 to hN crosses N routers, and a TTL of 64 lets
// it cross 63.
const MaxLineRouters = 63

// Kind returns "line".
func (Line) Kind() string { return "line" }

func (ln Line) size() string { return strconv.Itoa(ln.Routers) }

func (ln Line) build(v6 bool) (*lab, error) {
	if err := atLeast("--routers", ln.Routers, 1); err != nil {
		return nil, err
	}
	if err := atMost("--routers", ln.Routers, MaxLineRouters, "packets between the ends would cross more routers than their TTL of 64 allows; use leaf-spine or fat-tree for big labs"); err != nil {
		return nil, err
	}
	p := linePlan{n: ln.Routers, pool: family[netip.Addr]{v4: v4(10, 255, 0, 0)}}
	if v6 {
		p.pool.v6 = v6addr(0xfd10)
	}
	l := &lab{bridges: make([]bridge, 0, p.n), nodes: make([]node, 0, 2*p.n)}
	for i := 1; i <= p.n; i++ {
		lan := "lan" + strconv.Itoa(i)
		l.bridges = append(l.bridges, bridge{name: lan})
		l.nodes = append(l.nodes, p.router(i), host("h"+strconv.Itoa(i), lan, nths(p.lan(i), 2), addrsOf(nths(p.lan(i), 1))))
	}
	l.about = fmt.Sprintf("a line of %d routers, r1 to r%d, joined by point-to-point cables (a /31 each from 10.255.0.0/24%s); router r<i> has a LAN, bridge lan<i>, with one host h<i>: 10.0.<i>.0/24%s, the router .1, the host .2. Static routes on every router lead to every subnet, so every node reaches every address.",
		p.n, p.n, p.v6text(", and a /127 from fd10::/64"), p.v6text(" and fd10:<i>::/64 (i in hex)"))
	return l, nil
}

// linePlan is the addressing of a line.
type linePlan struct {
	n    int
	pool family[netip.Addr] // of the cables
}

func (p linePlan) v6text(s string) string {
	if p.pool.v6.IsValid() {
		return s
	}
	return ""
}

// lan returns the subnets of router i's LAN.
func (p linePlan) lan(i int) family[netip.Prefix] {
	f := family[netip.Prefix]{v4: netip.PrefixFrom(v4(10, 0, i, 0), 24)}
	if p.pool.v6.IsValid() {
		f.v6 = netip.PrefixFrom(v6addr(0xfd10, i), 64)
	}
	return f
}

// cable returns the ends of the cable between r<t> (even) and r<t+1>.
func (p linePlan) cable(t int) (family[netip.Prefix], family[netip.Prefix]) {
	return pair(p.pool, t-1)
}

func (p linePlan) router(i int) node {
	r := node{name: "r" + strconv.Itoa(i), router: true}
	r.ifaces = append(r.ifaces, iface{name: "eth0", link: "lan" + strconv.Itoa(i), addrs: nths(p.lan(i), 1).list()})
	var left, right family[netip.Addr]
	if i > 1 {
		even, odd := p.cable(i - 1)
		_, end := cable("r"+strconv.Itoa(i-1), r.name, even, odd)
		r.ifaces = append(r.ifaces, end)
		left = addrsOf(even)
	}
	if i < p.n {
		even, odd := p.cable(i)
		end, _ := cable(r.name, "r"+strconv.Itoa(i+1), even, odd)
		r.ifaces = append(r.ifaces, end)
		right = addrsOf(odd)
	}
	r.routes = p.routes(i, left, right)
	return r
}

// routes returns router i's routes: to every LAN and cable it is not on,
// via the neighbour on that side.
func (p linePlan) routes(i int, left, right family[netip.Addr]) []route {
	var out []route
	side := func(j int) family[netip.Addr] {
		if j < i {
			return left
		}
		return right
	}
	for j := 1; j <= p.n; j++ {
		if j != i {
			out = append(out, routesTo(p.lan(j), side(j))...)
		}
	}
	for t := 1; t < p.n; t++ {
		if t != i-1 && t != i {
			even, _ := p.cable(t)
			out = append(out, routesTo(masked(even), side(t))...)
		}
	}
	return out
}
