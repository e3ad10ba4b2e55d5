package plan

import (
	"fmt"

	"github.com/nslab/nslab/topology"
)

// Shape shapes the cable of node's interface iface in a running lab,
// both ways, at runtime (nil takes the shaping off); the lab's file is
// not changed.
//
// Equivalent to: tc qdisc replace dev IFACE root … (both ends)
func Shape(lab *topology.Lab, node, iface string, s *topology.Shape) (*Plan, error) {
	if err := checkShape(s); err != nil {
		return nil, fmt.Errorf("shape of %s:%s: %w", node, iface, err)
	}
	i, err := findIface(lab, node, iface)
	if err != nil {
		return nil, err
	}
	if i.Link == nil {
		return nil, fmt.Errorf("%s has no cable to shape", i.Ref())
	}
	// The cable as it is with s on i alone, for shapeEnds.
	l := *i.Link
	end := func(x *topology.Interface) *topology.Interface {
		if x == nil {
			return nil
		}
		c := *x
		c.Shape = nil
		if x == i {
			c.Shape = s
		}
		return &c
	}
	l.A, l.B = end(l.A), end(l.B)
	p := &Plan{Lab: lab.Name}
	p.add("shape", shapeEnds(lab, &l, true))
	return p, nil
}

// Unshape puts back the file's shaping of the cable of node's interface
// iface, both ends, in place of a shape set at runtime (Shape).
func Unshape(lab *topology.Lab, node, iface string) (*Plan, error) {
	i, err := findIface(lab, node, iface)
	if err != nil {
		return nil, err
	}
	if i.Link == nil {
		return nil, fmt.Errorf("%s has no cable to shape", i.Ref())
	}
	p := &Plan{Lab: lab.Name}
	p.add("shape", shapeEnds(lab, i.Link, true))
	return p, nil
}

// CheckShape checks a shape given at runtime (nil: none) against the
// limits a file's shape is held to.
func CheckShape(s *topology.Shape) error { return checkShape(s) }

// checkShape checks a shape given from Go against the limits a file's
// shape is held to (see topology.Shape).
func checkShape(s *topology.Shape) error {
	switch {
	case s == nil:
		return nil
	case s.Rate != 0 && (s.Rate < topology.MinRate || s.Rate > topology.MaxRate):
		return fmt.Errorf("rate %d bit/s is outside %d to %d: give 0 for no limit", s.Rate, topology.MinRate, uint64(topology.MaxRate))
	case s.Delay < 0 || s.Delay > topology.MaxDelay || s.Jitter < 0 || s.Jitter > topology.MaxDelay:
		return fmt.Errorf("delay %v and jitter %v must be from 0 to %v", s.Delay, s.Jitter, topology.MaxDelay)
	case s.Jitter > 0 && s.Delay == 0:
		return fmt.Errorf("jitter %v needs a delay", s.Jitter)
	case s.Loss < 0 || s.Loss > 100:
		return fmt.Errorf("loss %v%% is outside 0 to 100", s.Loss)
	case s.Duplicate < 0 || s.Duplicate > 100 || s.Reorder < 0 || s.Reorder > 100 || s.Corrupt < 0 || s.Corrupt > 100:
		return fmt.Errorf("duplicate %v%%, reorder %v%% and corrupt %v%% must be from 0 to 100", s.Duplicate, s.Reorder, s.Corrupt)
	case s.Reorder > 0 && s.Delay == 0:
		return fmt.Errorf("reorder %v%% needs a delay: reordering sends some packets at once ahead of delayed ones", s.Reorder)
	case *s == topology.Shape{Pos: s.Pos}:
		return fmt.Errorf("the shape sets nothing: give nil to take the shaping off")
	}
	return nil
}

// EndShapes is the shape of what leaves each veth end of the cable l:
// name is l.A's end for a cable between nodes and the host's end of a
// bridge port or host cable; peer is the other end (l.B's, or the
// node's).
func EndShapes(l *topology.Link) (name, peer *topology.Shape) { return endShapes(l) }

// InForce is the cable l as it is shaped now: with the runtime shape of
// the record f (nil: none) in place of the file's shapes when f has one
// for it, otherwise l itself.
func (f *Faults) InForce(lab *topology.Lab, l *topology.Link) *topology.Link {
	if f == nil {
		return l
	}
	for _, r := range f.Shapes {
		i := ifaceByRef(lab, r.Iface)
		if i == nil || i.Link != l {
			continue
		}
		c := *l
		end := func(x *topology.Interface) *topology.Interface {
			if x == nil {
				return nil
			}
			e := *x
			e.Shape = nil
			if x == i {
				e.Shape = r.Shape()
			}
			return &e
		}
		c.A, c.B = end(l.A), end(l.B)
		return &c
	}
	return l
}
