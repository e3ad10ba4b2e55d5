package lab

import (
	"context"

	"github.com/nslab/nslab/plan"
	"github.com/nslab/nslab/topology"
)

// Shape shapes the cable of interface iface of node node in a running
// lab, both ways, at runtime; nil takes the shaping off (see plan.Shape).
// The lab's file is not changed: the next change of that cable, or a
// repair, puts back what the file says.
func Shape(ctx context.Context, name, node, iface string, s *topology.Shape, opt Options) error {
	if s != nil {
		i := &topology.Interface{Node: node, Name: iface, Shape: s}
		t := &topology.Lab{Name: name, Links: []*topology.Link{{A: i}}}
		if err := checkShapes(t); err != nil {
			return err
		}
	}
	return change(ctx, name, opt, func(t *topology.Lab) (*plan.Plan, error) { return plan.Shape(t, node, iface, s) },
		func(*plan.Faults) {})
}
