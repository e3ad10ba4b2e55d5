package lab

import (
	"context"

	"github.com/nslab/nslab/check"
	"github.com/nslab/nslab/kernel"
	"github.com/nslab/nslab/plan"
	"github.com/nslab/nslab/topology"
)

// Check probes a running lab from every node (and the host) with the
// built-in ICMP prober; see check.Run.
func Check(ctx context.Context, t *topology.Lab, opt check.Options) (*check.Report, error) {
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
