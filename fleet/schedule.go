package fleet

import (
	"context"

	"github.com/nslab/nslab/lab"
	"github.com/nslab/nslab/plan"
)

// RunSchedule runs a fault schedule (or a flap: lab.Flap) on a lab across
// machines brought up here, in the foreground, as lab.RunSchedule does on
// one machine (lab.RunScheduleOn with Faults): each step at its time from
// the start, sent to the hosts it concerns, logged as it is done; at the
// end, on ctx's end or at a step that fails, every fault in force is
// reverted on every host and logged as "revert". The record of the lab's
// faults names the schedule while it runs: killed, it leaves the faults
// of that moment, which the next heal or down reverts. The ssh
// connections to the hosts are kept from one step to the next.
func RunSchedule(ctx context.Context, name, what string, steps []lab.Step, opt Options, log func(lab.StepEvent)) error {
	release, err := keepConnections()
	if err != nil {
		return err
	}
	defer release()
	return lab.RunScheduleOn(ctx, Faults(opt), name, what, steps, log)
}

// Faults are the fault operations of labs across machines brought up
// here, as a schedule does them: Cut, Partition, Block, Shape and Heal
// with opt, each sent to the hosts it concerns.
func Faults(opt Options) lab.Faulter {
	return lab.FaultFuncs[Options]{Opt: opt, Claim: claim, Cut: Cut, Partition: Partition, Block: Block, Shape: Shape, Heal: heal}.Faulter()
}

// claim records r as the lab's runner in the whole lab's record of
// faults, refusing when another live one holds the lab.
func claim(ctx context.Context, name string, r *plan.Runner, opt Options) error {
	c, err := startFault(ctx, name, &opt)
	if err != nil {
		return err
	}
	defer c.done()
	if b := c.f.Runner; b != nil && b.PID != r.PID && alive(b.PID) {
		return lab.Busy(name, b)
	}
	c.f.Runner = r
	return writeFaults(name, c.f)
}
