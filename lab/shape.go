package lab

import (
	"context"
	"slices"
	"strings"

	"github.com/nslab/nslab/plan"
	"github.com/nslab/nslab/topology"
)

// Shape shapes the cable of interface iface of node node in a running
// lab, both ways, at runtime; nil takes the shaping off (see plan.Shape).
// The lab's file is not changed: the shape is a fault in force, in the
// lab's record (status shows it, a repair keeps it) until Heal puts back
// what the file says, or the cable is made anew.
func Shape(ctx context.Context, name, node, iface string, s *topology.Shape, opt Options) error {
	if s != nil {
		i := &topology.Interface{Node: node, Name: iface, Shape: s}
		t := &topology.Lab{Name: name, Links: []*topology.Link{{A: i}}}
		if err := checkShapes(t); err != nil {
			return err
		}
	}
	var t *topology.Lab
	return change(ctx, name, opt, func(lt *topology.Lab) (*plan.Plan, error) { t = lt; return plan.Shape(lt, node, iface, s) },
		func(f *plan.Faults) { f.SetShape(t, node, iface, s) })
}

// unshape puts back the file's shaping of the cable of node:iface and
// forgets its runtime shape.
func unshape(ctx context.Context, name, ref string, opt Options) error {
	node, iface, _ := strings.Cut(ref, ":")
	return change(ctx, name, opt, func(t *topology.Lab) (*plan.Plan, error) { return plan.Unshape(t, node, iface) },
		func(f *plan.Faults) {
			f.Shapes = slices.DeleteFunc(f.Shapes, func(r plan.RuntimeShape) bool { return r.Iface == ref })
		})
}
