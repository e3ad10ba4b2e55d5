package lab

import (
	"context"
	"slices"

	"github.com/nslab/nslab/check"
	"github.com/nslab/nslab/journal"
	"github.com/nslab/nslab/kernel"
	"github.com/nslab/nslab/plan"
	"github.com/nslab/nslab/topology"
)

// ShareFilters puts in force, on this host's share of a lab across
// machines, the partition and the blocks of the whole lab (its node
// names): each node of the share gets the filter it would get on one
// machine, computed on the whole lab (the other machines' nodes'
// addresses included), so that a partition or a block holds across the
// tunnels both ways; the other machines' nodes get theirs there. The
// share's record holds groups and blocks as given, replacing those
// before; none heals the share's nodes.
func ShareFilters(ctx context.Context, name string, groups [][]string, blocks []plan.Block, opt Options) error {
	err := change(ctx, name, opt, func(t *topology.Lab) (*plan.Plan, error) {
		return filtersPlan(t, groups, blocks)
	}, func(f *plan.Faults) { f.Partition, f.Blocks = groups, blocks })
	if err == nil {
		e := journal.Event{Detail: noteGroups(groups)}
		for _, b := range blocks {
			if e.Detail != "" {
				e.Detail += "; "
			}
			e.Detail += "block " + b.String()
		}
		note(name, "filters", e)
	}
	return err
}

// filtersPlan plans the node filters of a partition and blocks (see
// plan.Filters) for a lab, or for a share of a lab across machines: there
// on the whole lab, keeping the share's nodes' filters.
func filtersPlan(t *topology.Lab, groups [][]string, blocks []plan.Block) (*plan.Plan, error) {
	if t.ShareOf == nil {
		return plan.Filters(t, groups, blocks)
	}
	whole, err := topology.ParseWith(t.File, t.Source, t.ShareOf.Assigned)
	if err != nil {
		return nil, err
	}
	whole.Name = t.Name
	p, err := plan.Filters(whole, groups, blocks)
	if err != nil {
		return nil, err
	}
	mine := map[string]bool{}
	for _, n := range t.Nodes {
		mine[plan.NetnsName(t.Name, n.Name)] = true
	}
	for i := range p.Stages {
		p.Stages[i].Ops = slices.DeleteFunc(p.Stages[i].Ops, func(op kernel.Op) bool {
			f, ok := op.(*kernel.Partition)
			return ok && !mine[f.NS]
		})
	}
	return p, nil
}

// CheckFaults is a record of faults as check expects them (nil for none).
func CheckFaults(f *plan.Faults) *check.Faults { return checkFaults(f) }

// pruneRecord forgets the faults of the record f that the change p of
// lab t undid (plan.Faults.Prune). A share of a lab across machines
// holds the whole lab's partition and blocks (ShareFilters), which name
// the other machines' nodes: those are pruned against the whole lab.
func pruneRecord(t *topology.Lab, f *plan.Faults, p *plan.Plan) {
	whole := &plan.Faults{Partition: f.Partition, Blocks: slices.Clone(f.Blocks)}
	f.Prune(t, p)
	if t.ShareOf == nil {
		return
	}
	w, err := topology.ParseWith(t.File, t.Source, t.ShareOf.Assigned)
	if err != nil {
		return
	}
	whole.Prune(w, nil)
	f.Partition, f.Blocks = whole.Partition, whole.Blocks
}
