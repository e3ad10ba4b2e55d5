package lab

import (
	"context"
	"slices"
	"strings"

	"github.com/nslab/nslab/journal"
	"github.com/nslab/nslab/kernel"
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
	err := change(ctx, name, opt, func(lt *topology.Lab) (*plan.Plan, error) { t = lt; return plan.Shape(lt, node, iface, s) },
		func(f *plan.Faults) {
			f.SetShape(t, node, iface, s)
			if s != nil && s.Loss > 0 && !netemBeyondLoss(s) && nftLoss() {
				for i := range f.Shapes {
					if f.Shapes[i].Iface == node+":"+iface {
						f.Shapes[i].NftLoss = true
					}
				}
			}
		})
	if err == nil {
		e := journal.Event{Node: node, Iface: iface, Detail: "off"}
		if s != nil {
			e.Detail = s.String()
		}
		note(name, "shape", e)
	}
	return err
}

// netemBeyondLoss reports whether s needs netem for more than a loss.
func netemBeyondLoss(s *topology.Shape) bool {
	return s.Delay > 0 || s.Jitter > 0 || s.Duplicate > 0 || s.Reorder > 0 || s.Corrupt > 0
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

// lossByNft makes the shapes of p that need netem for a loss alone (a
// loss, with or without a rate) draw the loss with nftables instead, on a
// kernel without sch_netem (see kernel.QdiscSet): a loss then works on
// every kernel. Delay, jitter, duplicate, reorder and corrupt still need
// netem (checkShapes says so before anything is built).
func lossByNft(p *plan.Plan) {
	if p == nil || !nftLoss() {
		return
	}
	for _, s := range p.Stages {
		for _, op := range s.Ops {
			if q, ok := op.(*kernel.QdiscSet); ok && q.Shape != nil && q.Shape.Loss > 0 && !q.Shape.NetemBeyondLoss() && !q.Shape.NftLoss {
				c := *q.Shape
				c.NftLoss = true
				q.Shape = &c
			}
		}
	}
}

// nftLoss reports whether this kernel draws a loss with nftables: it
// lacks sch_netem.
func nftLoss() bool { return kernel.QdiscSupported("netem") != nil }
