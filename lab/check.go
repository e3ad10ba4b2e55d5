package lab

import (
	"context"

	"github.com/nslab/nslab/check"
	"github.com/nslab/nslab/kernel"
	"github.com/nslab/nslab/plan"
	"github.com/nslab/nslab/topology"
)

// Check probes a running lab from every node (and the host) with the
// built-in ICMP prober; see check.Run. The faults in force (the lab's
// record) are expected: the pairs they separate must not answer, unless
// opt.Faults says otherwise.
func Check(ctx context.Context, t *topology.Lab, opt check.Options) (*check.Report, error) {
	if err := checkHome(t.Name); err != nil {
		return nil, err
	}
	if opt.Faults == nil {
		opt.Faults = checkFaults(readFaults(t.Name))
	}
	opt.HostDev = func(dev string) string {
		if t.Bridge(dev) != nil {
			return plan.BridgeName(t.Name, dev)
		}
		return plan.HostIfName(t.Name, dev)
	}
	return check.Run(ctx, t, func(node string) string {
		if node == topology.HostNode {
			return ""
		}
		return kernel.NetnsPath(plan.NetnsName(t.Name, node))
	}, opt)
}

// checkFaults is the record of faults as check takes it.
func checkFaults(f *plan.Faults) *check.Faults {
	if f.Empty() {
		return nil
	}
	out := &check.Faults{Cuts: f.Cuts, Partition: f.Partition}
	for _, b := range f.Blocks {
		out.Blocks = append(out.Blocks, check.Block{From: b.From, To: b.To, Loss: b.Loss})
	}
	return out
}
