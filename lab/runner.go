package lab

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/nslab/nslab/plan"
	"github.com/nslab/nslab/topology"
)

// Faulter does what the steps of a schedule ask of a running lab:
// LocalFaults on this machine, fleet.Faults across machines.
// RunScheduleOn runs a schedule over one.
type Faulter interface {
	// Claim records r as the lab's schedule runner (plan.Faults.Runner),
	// refusing (Busy) when another live process holds the lab so.
	Claim(ctx context.Context, name string, r *plan.Runner) error
	// Cut cuts the cable of node:iface (up false) or joins it again.
	Cut(ctx context.Context, name, node, iface string, up bool) error
	// Partition splits the lab into groups; none heals the partition.
	Partition(ctx context.Context, name string, groups [][]string) error
	// Block drops what some nodes send to others, one way.
	Block(ctx context.Context, name string, b plan.Block) error
	// Shape shapes the cable of node:iface at runtime, or takes its
	// shaping off (s nil).
	Shape(ctx context.Context, name, node, iface string, s *topology.Shape) error
	// Heal reverts every fault in force. A heal step of the schedule
	// (step true) keeps this process's record as the lab's runner; the
	// revert at the end forgets it.
	Heal(ctx context.Context, name string, step bool) error
}

// FaultFuncs are a package's fault functions that take its options, of
// type O, as lab's and fleet's do: Faulter makes them a Faulter that
// calls each with Opt.
type FaultFuncs[O any] struct {
	Opt       O
	Claim     func(ctx context.Context, name string, r *plan.Runner, opt O) error
	Cut       func(ctx context.Context, name, node, iface string, up bool, opt O) error
	Partition func(ctx context.Context, name string, groups [][]string, opt O) error
	Block     func(ctx context.Context, name string, b plan.Block, opt O) error
	Shape     func(ctx context.Context, name, node, iface string, s *topology.Shape, opt O) error
	// Heal reverts every fault in force; keepRunner is Faulter.Heal's step.
	Heal func(ctx context.Context, name string, opt O, keepRunner bool) (bool, error)
}

// Faulter is f as a Faulter.
func (f FaultFuncs[O]) Faulter() Faulter { return funcFaulter[O]{f} }

type funcFaulter[O any] struct{ f FaultFuncs[O] }

func (x funcFaulter[O]) Claim(ctx context.Context, name string, r *plan.Runner) error {
	return x.f.Claim(ctx, name, r, x.f.Opt)
}

func (x funcFaulter[O]) Cut(ctx context.Context, name, node, iface string, up bool) error {
	return x.f.Cut(ctx, name, node, iface, up, x.f.Opt)
}

func (x funcFaulter[O]) Partition(ctx context.Context, name string, groups [][]string) error {
	return x.f.Partition(ctx, name, groups, x.f.Opt)
}

func (x funcFaulter[O]) Block(ctx context.Context, name string, b plan.Block) error {
	return x.f.Block(ctx, name, b, x.f.Opt)
}

func (x funcFaulter[O]) Shape(ctx context.Context, name, node, iface string, s *topology.Shape) error {
	return x.f.Shape(ctx, name, node, iface, s, x.f.Opt)
}

func (x funcFaulter[O]) Heal(ctx context.Context, name string, step bool) error {
	_, err := x.f.Heal(ctx, name, x.f.Opt, step)
	return err
}

// Busy is the error of a schedule refused because runner, another live
// process, runs one on lab name already.
func Busy(name string, runner *plan.Runner) error {
	return fmt.Errorf("lab %s runs %s already (pid %d, since %s): wait for it, or end it and run nslab heal %s",
		name, runner.What, runner.PID, runner.Started.Format(time.RFC3339), name)
}

// RunScheduleOn runs the steps on running lab name with f, each at its
// time from the start, and logs each (with log, if not nil) as it is
// done. At the end, when ctx is done (Ctrl-C), or at a step that fails,
// it reverts every fault in force (f.Heal) and logs that as a last step
// "revert". It claims the lab first (f.Claim) as what, so that a second
// schedule is refused while it runs and a killed one is undone by the
// next heal or down.
func RunScheduleOn(ctx context.Context, f Faulter, name, what string, steps []Step, log func(StepEvent)) error {
	if log == nil {
		log = func(StepEvent) {}
	}
	if err := f.Claim(ctx, name, &plan.Runner{PID: os.Getpid(), What: what, Started: time.Now().UTC()}); err != nil {
		return err
	}
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
		err := s.do(ctx, f, name)
		ev := StepEvent{Time: time.Now().UTC(), Lab: name, At: ms(s.At), Late: ms(time.Since(start) - s.At), Step: s.String()}
		if err != nil {
			ev.Err = err.Error()
			runErr = fmt.Errorf("%s: %s: %w", s.Pos, s, err)
		}
		log(ev)
		if err != nil {
			break
		}
	}
	// Reverted even when ctx is done: a fresh context, so that Ctrl-C
	// leaves the lab as it was.
	err := f.Heal(context.Background(), name, false)
	ev := StepEvent{Time: time.Now().UTC(), Lab: name, At: ms(time.Since(start)), Step: "revert"}
	if err != nil {
		ev.Err = err.Error()
	}
	log(ev)
	return errors.Join(runErr, err)
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// do does the step with f.
func (s Step) do(ctx context.Context, f Faulter, name string) error {
	switch {
	case s.Cut != "" || s.Join != "":
		ref, up := s.Cut, false
		if s.Join != "" {
			ref, up = s.Join, true
		}
		node, iface, _ := strings.Cut(ref, ":")
		return f.Cut(ctx, name, node, iface, up)
	case s.Partition != nil:
		return f.Partition(ctx, name, s.Partition)
	case s.Block != nil:
		return f.Block(ctx, name, *s.Block)
	case s.ShapeIface != "":
		node, iface, _ := strings.Cut(s.ShapeIface, ":")
		return f.Shape(ctx, name, node, iface, s.Shape)
	}
	return f.Heal(ctx, name, true)
}
