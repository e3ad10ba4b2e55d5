package lab

import (
	"context"
	"fmt"
	"net/netip"

	"github.com/nslab/nslab/check"
	"github.com/nslab/nslab/kernel"
	"github.com/nslab/nslab/plan"
	"github.com/nslab/nslab/topology"
)

// measureParallel is how many shaped paths are measured at once: each is
// a cable of its own, but the machine's cores are shared.
const measureParallel = 4

// MeasureShapes measures every shaped cable of a running lab both ways
// (round trip, one-way delay, loss, and the rate where one is set) and
// holds the figures to the shapes in force: the file's, or a runtime
// shape of the lab's record in their place (see check.Measure and
// check.Tolerance). A cable between nodes is measured between its two
// ends; a bridge port or host cable between the node and the host's
// address on the bridge or host interface, or, on a bridge without one,
// a node whose port is not shaped.
func MeasureShapes(ctx context.Context, t *topology.Lab) (*check.MeasureReport, error) {
	paths, err := ShapedPaths(t, readFaults(t.Name))
	if err != nil {
		return nil, err
	}
	return check.Measure(ctx, t.Name, paths, measureParallel), nil
}

// ShapedPaths are the cables of t with a shape in force (f: the record
// of faults, nil for none), as paths to measure.
func ShapedPaths(t *topology.Lab, f *plan.Faults) ([]check.Path, error) {
	var out []check.Path
	for _, l := range t.Links {
		if l.Kind == topology.Trunk {
			continue
		}
		l = f.InForce(t, l)
		if len(l.Shapes()) == 0 {
			continue
		}
		p, err := shapedPath(t, f, l)
		if err != nil {
			return nil, fmt.Errorf("cable %s: %w", l, err)
		}
		out = append(out, p)
	}
	return out, nil
}

func shapedPath(t *topology.Lab, f *plan.Faults, l *topology.Link) (check.Path, error) {
	name, peer := plan.EndShapes(l)
	p := check.Path{Cable: l.String()}
	switch {
	case l.Kind == topology.Peer && !l.A.OnHost() && !l.B.OnHost():
		a4, a6 := famAddrs(l.A.Addresses)
		b4, b6 := famAddrs(l.B.Addresses)
		from, to, ok := pick(a4, a6, b4, b6)
		if !ok {
			return p, fmt.Errorf("its ends have no addresses of one family to measure between")
		}
		p.Fwd = way(t, l.A.Node, l.B.Node, to, name)
		p.Back = way(t, l.B.Node, l.A.Node, from, peer)
		return p, nil
	case l.Kind == topology.Peer:
		node, host := l.A, l.B
		if node.OnHost() {
			node, host = host, node
		}
		n4, n6 := famAddrs(node.Addresses)
		h4, h6 := famAddrs(host.Addresses)
		nodeAddr, hostAddr, ok := pick(n4, n6, h4, h6)
		if !ok {
			return p, fmt.Errorf("the node's end and the host's have no addresses of one family to measure between")
		}
		p.Fwd = way(t, node.Node, topology.HostNode, hostAddr, peer)
		p.Back = way(t, topology.HostNode, node.Node, nodeAddr, name)
		return p, nil
	}
	// A bridge port: to the host's address on the bridge, or to a node
	// whose port is not shaped.
	n4, n6 := famAddrs(l.A.Addresses)
	o4, o6 := famAddrs(l.Bridge.Addresses)
	other := topology.HostNode
	if len(o4)+len(o6) == 0 {
		for _, o := range t.Ports(l.Bridge) {
			if o == l || len(f.InForce(t, o).Shapes()) > 0 {
				continue
			}
			if x4, x6 := famAddrs(o.A.Addresses); len(x4)+len(x6) > 0 {
				o4, o6, other = x4, x6, o.A.Node
				break
			}
		}
	}
	nodeAddr, otherAddr, ok := pick(n4, n6, o4, o6)
	if !ok {
		return p, fmt.Errorf("nothing to measure against: give the bridge %s an address (the host's side), or plug an unshaped node with an address of the same family into it", l.Bridge.Name)
	}
	p.Fwd = way(t, l.A.Node, other, otherAddr, peer)
	p.Back = way(t, other, l.A.Node, nodeAddr, name)
	return p, nil
}

// way is one way of a path, from node from to addr of node to, shaped s.
func way(t *topology.Lab, from, to string, addr netip.Addr, s *topology.Shape) check.Way {
	w := check.Way{From: from, To: to, FromNS: nsPath(t, from), ToNS: nsPath(t, to), Addr: addr}
	if s != nil {
		w.Want = check.Wanted{Delay: s.Delay, Jitter: s.Jitter, Loss: s.Loss, Rate: s.Rate}
	}
	return w
}

func nsPath(t *topology.Lab, node string) string {
	if node == topology.HostNode {
		return ""
	}
	return kernel.NetnsPath(plan.NetnsName(t.Name, node))
}

// famAddrs splits addresses by family.
func famAddrs(ps []netip.Prefix) (v4, v6 []netip.Addr) {
	for _, p := range ps {
		if p.Addr().Is4() {
			v4 = append(v4, p.Addr())
		} else {
			v6 = append(v6, p.Addr())
		}
	}
	return v4, v6
}

// pick chooses an address of each side of one family, IPv4 first.
func pick(a4, a6, b4, b6 []netip.Addr) (a, b netip.Addr, ok bool) {
	switch {
	case len(a4) > 0 && len(b4) > 0:
		return a4[0], b4[0], true
	case len(a6) > 0 && len(b6) > 0:
		return a6[0], b6[0], true
	}
	return a, b, false
}
