package lab_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/nslab/nslab/lab"
	"github.com/nslab/nslab/plan"
	"github.com/nslab/nslab/topology"
)

// fakeFaults records the calls a schedule makes, as lines; fail makes
// the call that renders so fail.
type fakeFaults struct {
	calls []string
	fail  string
	// onCall runs after each call is recorded.
	onCall func(string)
	// ctxDone records, per call, whether its context was done.
	ctxDone []bool
}

func (f *fakeFaults) call(ctx context.Context, s string) error {
	f.calls = append(f.calls, s)
	f.ctxDone = append(f.ctxDone, ctx.Err() != nil)
	if f.onCall != nil {
		f.onCall(s)
	}
	if s == f.fail {
		return errors.New("no such luck")
	}
	return nil
}

func (f *fakeFaults) Claim(ctx context.Context, name string, r *plan.Runner) error {
	if r.PID != os.Getpid() || r.Started.IsZero() {
		return fmt.Errorf("claim by %+v, want this process now", r)
	}
	return f.call(ctx, "claim "+name+" "+r.What)
}

func (f *fakeFaults) Cut(ctx context.Context, name, node, iface string, up bool) error {
	return f.call(ctx, fmt.Sprintf("cut %s %s:%s up=%v", name, node, iface, up))
}

func (f *fakeFaults) Partition(ctx context.Context, name string, groups [][]string) error {
	return f.call(ctx, fmt.Sprintf("partition %s %v", name, groups))
}

func (f *fakeFaults) Block(ctx context.Context, name string, b plan.Block) error {
	return f.call(ctx, fmt.Sprintf("block %s %s", name, b.String()))
}

func (f *fakeFaults) Shape(ctx context.Context, name, node, iface string, s *topology.Shape) error {
	if s == nil {
		return f.call(ctx, fmt.Sprintf("shape %s %s:%s off", name, node, iface))
	}
	return f.call(ctx, fmt.Sprintf("shape %s %s:%s %s", name, node, iface, s))
}

func (f *fakeFaults) Heal(ctx context.Context, name string, step bool) error {
	return f.call(ctx, fmt.Sprintf("heal %s step=%v", name, step))
}

var _ lab.Faulter = (*fakeFaults)(nil)

// TestRunScheduleOn: the one schedule runner (lab's and fleet's) claims
// the lab, does each step with the Faulter at its time, in order, logs
// it, and reverts at the end.
func TestRunScheduleOn(t *testing.T) {
	sched := `
- {at: 0s, cut: a:eth0}
- {at: 20ms, join: a:eth0}
- {at: 20ms, partition: [[a], [b]]}
- {at: 40ms, block: {from: [a], to: [b], loss: 10%}}
- {at: 40ms, shape: {iface: a:eth0, rate: 5mbit}}
- {at: 60ms, shape: {iface: a:eth0, off: true}}
- {at: 60ms, heal: true}
`
	steps, err := lab.ParseSchedule("s.yaml", []byte(sched), nil)
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeFaults{}
	var evs []lab.StepEvent
	start := time.Now()
	if err := lab.RunScheduleOn(context.Background(), f, "l1", "schedule s.yaml", steps, func(ev lab.StepEvent) { evs = append(evs, ev) }); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 60*time.Millisecond {
		t.Errorf("the schedule took %v: its last steps are at 60ms", d)
	}
	want := []string{
		"claim l1 schedule s.yaml",
		"cut l1 a:eth0 up=false",
		"cut l1 a:eth0 up=true",
		"partition l1 [[a] [b]]",
		"block l1 " + steps[3].Block.String(),
		"shape l1 a:eth0 " + steps[4].Shape.String(),
		"shape l1 a:eth0 off",
		"heal l1 step=true",
		"heal l1 step=false",
	}
	if diff := cmp.Diff(want, f.calls); diff != "" {
		t.Errorf("calls (-want +got):\n%s", diff)
	}
	var got []string
	for i, ev := range evs {
		got = append(got, ev.Step)
		if ev.Lab != "l1" || ev.Err != "" {
			t.Errorf("event %d: %+v", i, ev)
		}
		if i < len(steps) && (ev.At != float64(steps[i].At.Milliseconds()) || ev.Late < 0) {
			t.Errorf("event %d at %v ms, %v ms late: want at %v", i, ev.At, ev.Late, steps[i].At)
		}
	}
	wantEv := []string{"cut a:eth0", "join a:eth0", "partition a | b", "block " + steps[3].Block.String(), "shape a:eth0 " + steps[4].Shape.String(), "shape a:eth0 off", "heal", "revert"}
	if diff := cmp.Diff(wantEv, got); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
}

// TestRunScheduleOnStops: a step that fails ends the schedule, which
// reverts and says where the step was written; a cancelled context
// (Ctrl-C) ends it before its next step and the revert is done with a
// context of its own; a claim refused does nothing.
func TestRunScheduleOnStops(t *testing.T) {
	steps, err := lab.ParseSchedule("s.yaml", []byte("- {at: 0s, cut: a:eth0}\n- {at: 0s, partition: [[a], [b]]}\n- {at: 0s, heal: true}\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Run("failed step", func(t *testing.T) {
		f := &fakeFaults{fail: "partition l1 [[a] [b]]"}
		var evs []lab.StepEvent
		err := lab.RunScheduleOn(context.Background(), f, "l1", "s", steps, func(ev lab.StepEvent) { evs = append(evs, ev) })
		if err == nil || !strings.Contains(err.Error(), "s.yaml:2:3: partition a | b: no such luck") {
			t.Errorf("error %v: want the step's place, the step and the cause", err)
		}
		want := []string{"claim l1 s", "cut l1 a:eth0 up=false", "partition l1 [[a] [b]]", "heal l1 step=false"}
		if diff := cmp.Diff(want, f.calls); diff != "" {
			t.Errorf("calls (-want +got):\n%s", diff)
		}
		if len(evs) != 3 || evs[1].Err != "no such luck" || evs[2].Step != "revert" || evs[2].Err != "" {
			t.Errorf("events %+v: want the failed step's error, then the revert", evs)
		}
	})
	t.Run("cancelled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		later := append([]lab.Step{steps[0]}, steps[1:]...)
		later[1].At = time.Hour
		f := &fakeFaults{onCall: func(s string) {
			if strings.HasPrefix(s, "cut") {
				cancel()
			}
		}}
		done := make(chan error, 1)
		go func() { done <- lab.RunScheduleOn(ctx, f, "l1", "s", later, nil) }()
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("a cancelled schedule still waits for its step an hour away")
		}
		want := []string{"claim l1 s", "cut l1 a:eth0 up=false", "heal l1 step=false"}
		if diff := cmp.Diff(want, f.calls); diff != "" {
			t.Errorf("calls (-want +got):\n%s", diff)
		}
		if f.ctxDone[len(f.ctxDone)-1] {
			t.Error("the revert got the cancelled context: it would not revert")
		}
	})
	t.Run("claim refused", func(t *testing.T) {
		f := &fakeFaults{fail: "claim l1 s"}
		if err := lab.RunScheduleOn(context.Background(), f, "l1", "s", steps, nil); err == nil {
			t.Error("no error")
		}
		if diff := cmp.Diff([]string{"claim l1 s"}, f.calls); diff != "" {
			t.Errorf("calls (-want +got):\n%s", diff)
		}
	})
}
