package fleet

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/nslab/nslab/lab"
	"github.com/nslab/nslab/plan"
)

// RunSchedule runs a fault schedule (or a flap: lab.Flap) on a lab across
// machines brought up here, in the foreground, as lab.RunSchedule does on
// one machine: each step at its time from the start, sent to the hosts it
// concerns (as Cut, Shape, Partition, Block and Heal send it), logged as
// it is done; at the end, on ctx's end or at a step that fails, every
// fault in force is reverted on every host and logged as "revert". The
// record of the lab's faults names the schedule while it runs: killed,
// it leaves the faults of that moment, which the next heal or down
// reverts.
func RunSchedule(ctx context.Context, name, what string, steps []lab.Step, opt Options, log func(lab.StepEvent)) error {
	if log == nil {
		log = func(lab.StepEvent) {}
	}
	if err := setRunner(ctx, name, &plan.Runner{PID: os.Getpid(), What: what, Started: time.Now().UTC()}, &opt); err != nil {
		return err
	}
	release, err := keepConnections()
	if err != nil {
		return err
	}
	defer release()
	start := time.Now()
	var runErr error
	for _, s := range steps {
		if wait := time.Until(start.Add(s.At)); wait > 0 {
			select {
			case <-ctx.Done():
			case <-time.After(wait):
			}
		}
		if ctx.Err() != nil {
			break
		}
		err := doStep(ctx, name, s, opt)
		ev := lab.StepEvent{Time: time.Now().UTC(), Lab: name, At: ms(s.At), Late: ms(time.Since(start) - s.At), Step: s.String()}
		if err != nil {
			ev.Err = err.Error()
			runErr = fmt.Errorf("%s: %s: %w", s.Pos, s, err)
		}
		log(ev)
		if err != nil {
			break
		}
	}
	_, err = Heal(context.Background(), name, opt)
	ev := lab.StepEvent{Time: time.Now().UTC(), Lab: name, At: ms(time.Since(start)), Step: "revert"}
	if err != nil {
		ev.Err = err.Error()
	}
	log(ev)
	return errors.Join(runErr, err)
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// setRunner records the runner, refusing when another live one holds the
// lab.
func setRunner(ctx context.Context, name string, r *plan.Runner, opt *Options) error {
	c, err := startFault(ctx, name, opt)
	if err != nil {
		return err
	}
	defer c.done()
	if b := c.f.Runner; b != nil && b.PID != r.PID && alive(b.PID) {
		return fmt.Errorf("lab %s runs %s already (pid %d, since %s): wait for it, or end it and run nslab heal %s",
			name, b.What, b.PID, b.Started.Format(time.RFC3339), name)
	}
	c.f.Runner = r
	return writeFaults(name, c.f)
}

// doStep does one step of a schedule on the hosts it concerns.
func doStep(ctx context.Context, name string, s lab.Step, opt Options) error {
	switch {
	case s.Cut != "" || s.Join != "":
		ref, up := s.Cut, false
		if s.Join != "" {
			ref, up = s.Join, true
		}
		node, iface, _ := strings.Cut(ref, ":")
		return Cut(ctx, name, node, iface, up, opt)
	case s.Partition != nil:
		return Partition(ctx, name, s.Partition, opt)
	case s.Block != nil:
		return Block(ctx, name, *s.Block, opt)
	case s.ShapeIface != "":
		node, iface, _ := strings.Cut(s.ShapeIface, ":")
		return Shape(ctx, name, node, iface, s.Shape, opt)
	}
	_, err := heal(ctx, name, opt, true)
	return err
}
