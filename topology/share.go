package topology

import (
	"errors"
	"fmt"
	"hash/fnv"
	"net/netip"
	"slices"
	"strings"
)

// Tunnel carries a bridge's segment to the other machines of a lab
// across machines: a VXLAN device in the root namespace, a port of the
// bridge, whose flooded frames go to every remote (head-end replication,
// static: no multicast). Share sets it; a file cannot.
type Tunnel struct {
	// Segment is the segment carried: the bridge's name, or the cable
	// between machines as "a:eth0 -- b:eth0".
	Segment string
	VNI     int
	Port    int
	// Local is this machine's address; Remotes are the other machines'
	// with an end on the segment, sorted.
	Local   netip.Addr
	Remotes []netip.Addr
}

// ShareSpec says which share of a lab across machines a Lab is: the
// host it runs on, with what every host computes the same lab from.
type ShareSpec struct {
	Lab       string      `json:"lab"`
	Host      string      `json:"host"`
	Placement Placement   `json:"placement"`
	Assigned  Assignments `json:"assigned"`
	// Underlays are the machines' underlay interfaces as read on each
	// (see Machine.Underlay), by machine; a machine without one is
	// taken to have a 1500-byte underlay.
	Underlays map[string]Underlay `json:"underlays,omitempty"`
}

// crossingMTU is the largest MTU of an interface on a segment carried
// between the machines named: the smallest of their underlays' MTUs less
// VXLAN's overhead over the underlay's family.
func crossingMTU(l *Lab, machines []string, six bool) (limit int, why string) {
	under := 0
	var parts []string
	for _, name := range slices.Compact(slices.Sorted(slices.Values(machines))) {
		m := l.Machine(name)
		if m == nil {
			continue
		}
		if under == 0 || m.underlayMTU() < under {
			under = m.underlayMTU()
		}
		if m.Underlay.Dev != "" {
			parts = append(parts, fmt.Sprintf("%s: %s %d", m.Name, m.Underlay.Dev, m.underlayMTU()))
		} else {
			parts = append(parts, fmt.Sprintf("%s: %d (assumed)", m.Name, m.underlayMTU()))
		}
	}
	if under == 0 {
		under = 1500
	}
	fam := "IPv4"
	if six {
		fam = "IPv6"
	}
	return under - overhead(six), fmt.Sprintf("its hosts' underlays have MTU %s and VXLAN over %s takes %d bytes of it", strings.Join(parts, ", "), fam, overhead(six))
}

// CrossingMTU is the largest MTU of an interface on a segment between
// machines: a 1500-byte underlay less VXLAN's overhead, over IPv4 or IPv6.
func CrossingMTU(underlay netip.Addr) int {
	if underlay.Is6() && !underlay.Is4In6() {
		return 1500 - VXLANOverhead6
	}
	return 1500 - VXLANOverhead4
}

// VNIs numbers the segments that cross machines: 1 + a hash of lab and
// segment, so that two labs on one underlay rarely meet, and within the
// lab a number taken is passed to the next free one in the segments'
// order. Every machine computes the same numbers from the same lab.
func VNIs(l *Lab, pl Placement) map[string]int {
	out := map[string]int{}
	used := map[int]bool{}
	for _, c := range Crossings(l, pl) {
		h := fnv.New32a()
		h.Write([]byte(l.Name + "\x00" + c.Segment))
		v := 1 + int(h.Sum32()%(MaxVNI-1))
		for used[v] {
			v = v%(MaxVNI-1) + 1
		}
		used[v] = true
		out[c.Segment] = v
	}
	return out
}

// Home is the machine that keeps a bridge's host side (its addresses,
// gateway and NAT) in a lab across machines: a machine with a member node
// that publishes ports (they open on the node's machine, which must reach
// the node: the local machine first among such, then by name), else the
// local machine if the bridge has members there, else the first machine
// by name that has members, else the local machine (or the first).
func Home(l *Lab, pl Placement, b *Bridge) string {
	members, publishers := map[string]bool{}, map[string]bool{}
	for _, lk := range l.Links {
		if lk.Kind == Port && lk.Bridge == b && !lk.A.OnHost() {
			members[pl[lk.A.Node]] = true
			if n := l.Node(lk.A.Node); n != nil && len(n.Publish) > 0 {
				publishers[pl[lk.A.Node]] = true
			}
		}
	}
	for _, want := range []map[string]bool{publishers, members} {
		for _, m := range l.Machines {
			if m.Local && want[m.Name] {
				return m.Name
			}
		}
		for _, m := range l.Machines {
			if want[m.Name] {
				return m.Name
			}
		}
	}
	for _, m := range l.Machines {
		if m.Local {
			return m.Name
		}
	}
	return l.Machines[0].Name
}

// publishHomes refuses a node that publishes ports on a machine that does
// not keep the host side of a bridge it is on: its ports would open
// where the node cannot be reached.
func publishHomes(l *Lab, pl Placement, host string) error {
	var errs []error
	for _, n := range l.Nodes {
		if pl[n.Name] != host || len(n.Publish) == 0 {
			continue
		}
		for _, i := range n.Interfaces {
			if i.Link == nil || i.Link.Kind != Port || len(i.Link.Bridge.Addresses) == 0 && !i.Link.Bridge.Gateway {
				continue
			}
			if home := Home(l, pl, i.Link.Bridge); home != host {
				errs = append(errs, &Error{Pos: n.Pos, Msg: fmt.Sprintf("node %s publishes ports on host %s, but the host side of bridge %s is on host %s, where another node of the bridge publishes too: the ports of a bridge's nodes open on one host; place them on one host (host:)",
					n.Name, host, i.Link.Bridge.Name, home)})
			}
		}
	}
	return errors.Join(errs...)
}

// Share is the part of a lab across machines that runs on one of them,
// as a lab of that machine alone: its nodes (with the addresses and
// routes computed on the whole lab), its cables among them, the bridges
// it has members on or is the home of (see Home; elsewhere a bridge has
// no host side), and host interfaces of its nodes' cables. A cable to a
// node on another machine becomes a port of a bridge of its own named
// after the cable, and every bridge with members on other machines gets
// a Tunnel to them; the interfaces on such segments get at most
// CrossingMTU. The lab l is not changed.
func Share(l *Lab, pl Placement, host string) (*Lab, error) {
	me := l.Machine(host)
	if me == nil {
		return nil, fmt.Errorf("lab %s has no host %q", l.Name, host)
	}
	out := &Lab{Name: l.Name, File: l.File, Source: l.Source, Pool: l.Pool, Routing: l.Routing, Machines: l.Machines,
		ShareOf: &ShareSpec{Lab: l.Name, Host: host, Placement: pl, Assigned: l.Assignments(), Underlays: l.Underlays()}}
	here := func(i *Interface, peer *Interface) bool {
		if i.OnHost() {
			return peer != nil && pl[peer.Node] == host
		}
		return pl[i.Node] == host
	}
	vnis := VNIs(l, pl)
	addrOf := map[string]netip.Addr{}
	for _, m := range l.Machines {
		addrOf[m.Name] = m.Address
	}
	six := me.Address.Is6() && !me.Address.Is4In6()
	var tooLarge []error
	// capTo gives an interface or bridge on a segment between machines
	// at most the segment's MTU; an MTU written larger is refused.
	capTo := func(mtu int, pos Pos, what, segment string, machines []string) int {
		limit, why := crossingMTU(l, machines, six)
		if mtu > limit {
			tooLarge = append(tooLarge, &Error{Pos: pos, Msg: fmt.Sprintf("mtu %d of %s is too large for %s, which lab %s carries between hosts %s: %s, so at most %d: lower it, or raise the underlays' MTU",
				mtu, what, segment, l.Name, strings.Join(slices.Compact(slices.Sorted(slices.Values(machines))), ", "), why, limit)})
		}
		return capMTU(mtu, limit)
	}
	ifs := map[*Interface]*Interface{}
	clone := func(i *Interface) *Interface {
		c := *i
		ifs[i] = &c
		return &c
	}
	for _, n := range l.Nodes {
		if pl[n.Name] != host {
			continue
		}
		c := *n
		c.Interfaces = make([]*Interface, len(n.Interfaces))
		for k, i := range n.Interfaces {
			c.Interfaces[k] = clone(i)
		}
		out.Nodes = append(out.Nodes, &c)
	}
	bridges := map[*Bridge]*Bridge{}
	machinesOf := map[*Bridge][]string{}
	for _, lk := range l.Links {
		if lk.Kind == Port && !lk.A.OnHost() {
			machinesOf[lk.Bridge] = append(machinesOf[lk.Bridge], pl[lk.A.Node])
		}
	}
	tunnel := func(segment string, machines []string) *Tunnel {
		t := &Tunnel{Segment: segment, VNI: vnis[segment], Port: DefaultVXLANPort, Local: me.Address}
		for _, m := range machines {
			if m != host {
				t.Remotes = append(t.Remotes, addrOf[m])
			}
		}
		slices.SortFunc(t.Remotes, netip.Addr.Compare)
		t.Remotes = slices.Compact(t.Remotes)
		return t
	}
	for _, b := range l.Bridges {
		ms := machinesOf[b]
		home := Home(l, pl, b)
		if !slices.Contains(ms, host) && home != host {
			continue
		}
		c := *b
		if home != host {
			c.Addresses, c.Auto, c.Gateway, c.NAT, c.NAT6 = nil, nil, false, false, false
		}
		if slices.ContainsFunc(ms, func(m string) bool { return m != host }) {
			c.Tunnel = tunnel(b.Name, ms)
			c.MTU = capTo(c.MTU, b.Pos, "bridge "+b.Name, "bridge "+b.Name, ms)
		}
		bridges[b] = &c
		out.Bridges = append(out.Bridges, &c)
	}
	for _, lk := range l.Links {
		switch {
		case lk.Kind == Port && here(lk.A, nil):
			a, b := ifs[lk.A], bridges[lk.Bridge]
			if b.Tunnel != nil {
				a.MTU = capTo(a.MTU, a.Pos, a.Ref(), "bridge "+b.Name, machinesOf[lk.Bridge])
			}
			out.add(&Link{Kind: Port, A: a, Bridge: b, Pos: lk.Pos})
		case lk.Kind != Peer:
		case lk.A.OnHost() || lk.B.OnHost():
			if here(lk.A, lk.B) && here(lk.B, lk.A) {
				a, b := share(lk.A, ifs, clone), share(lk.B, ifs, clone)
				if a.OnHost() {
					out.Host = append(out.Host, a)
				}
				if b.OnHost() {
					out.Host = append(out.Host, b)
				}
				out.add(&Link{Kind: Peer, A: a, B: b, Pos: lk.Pos})
			}
		case pl[lk.A.Node] == host && pl[lk.B.Node] == host:
			out.add(&Link{Kind: Peer, A: ifs[lk.A], B: ifs[lk.B], Pos: lk.Pos})
		case pl[lk.A.Node] == host || pl[lk.B.Node] == host:
			end, far := lk.A, lk.B
			if pl[end.Node] != host {
				end, far = far, end
			}
			seg := lk.String()
			b := &Bridge{Name: CableBridge(lk), Pos: lk.Pos,
				Tunnel: tunnel(seg, []string{pl[end.Node], pl[far.Node]})}
			ms := []string{pl[end.Node], pl[far.Node]}
			b.MTU = capTo(end.MTU, end.Pos, end.Ref(), "the cable "+seg, ms)
			out.Bridges = append(out.Bridges, b)
			a := ifs[end]
			a.MTU = b.MTU
			out.add(&Link{Kind: Port, A: a, Bridge: b, Pos: lk.Pos})
		}
	}
	if err := publishHomes(l, pl, host); err != nil {
		tooLarge = append(tooLarge, err)
	}
	if len(tooLarge) > 0 {
		return nil, errors.Join(tooLarge...)
	}
	slices.SortFunc(out.Bridges, func(a, b *Bridge) int { return strings.Compare(a.Name, b.Name) })
	slices.SortFunc(out.Host, func(a, b *Interface) int { return strings.Compare(a.Name, b.Name) })
	slices.SortStableFunc(out.Links, func(a, b *Link) int {
		if c := strings.Compare(a.A.Ref(), b.A.Ref()); c != 0 {
			return c
		}
		return int(a.Kind) - int(b.Kind)
	})
	return out, nil
}

// CableBridge names the bridge that stands for a cable between machines
// in each machine's share: "x-A.IF-B.IF" after its ends.
func CableBridge(lk *Link) string {
	return "x-" + lk.A.Node + "." + lk.A.Name + "-" + lk.B.Node + "." + lk.B.Name
}

func share(i *Interface, ifs map[*Interface]*Interface, clone func(*Interface) *Interface) *Interface {
	if c := ifs[i]; c != nil {
		return c
	}
	return clone(i)
}

// add appends a link and points its interfaces at it.
func (l *Lab) add(lk *Link) {
	l.Links = append(l.Links, lk)
	lk.A.Link = lk
	if lk.B != nil {
		lk.B.Link = lk
	}
}

func capMTU(mtu, max int) int {
	if mtu == 0 || mtu > max {
		return max
	}
	return mtu
}

// Underlays are the machines' underlays as read on them, by machine; nil
// when none was read.
func (l *Lab) Underlays() map[string]Underlay {
	var out map[string]Underlay
	for _, m := range l.Machines {
		if m.Underlay.MTU > 0 {
			if out == nil {
				out = map[string]Underlay{}
			}
			out[m.Name] = m.Underlay
		}
	}
	return out
}

// SetUnderlays gives the lab's machines the underlays read on them.
func (l *Lab) SetUnderlays(u map[string]Underlay) {
	for _, m := range l.Machines {
		if v, ok := u[m.Name]; ok {
			m.Underlay = v
		}
	}
}
