package lab

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/nslab/nslab/plan"
	"github.com/nslab/nslab/topology"
)

// Step is one timed step of a fault schedule: at At from the start, one
// of cut or join a cable, partition, block, shape a cable, or heal
// (revert every fault).
type Step struct {
	At        time.Duration
	Cut       string // node:iface
	Join      string // node:iface
	Partition [][]string
	Block     *plan.Block
	// Shape shapes the cable of ShapeIface as nslab link shape does;
	// with Shape nil and ShapeIface set, it takes the shaping off.
	ShapeIface string
	Shape      *topology.Shape
	Heal       bool
	Pos        string // file:line:col of the step, for errors
}

// String renders the step as the event log writes it.
func (s Step) String() string {
	switch {
	case s.Cut != "":
		return "cut " + s.Cut
	case s.Join != "":
		return "join " + s.Join
	case s.Partition != nil:
		var g []string
		for _, x := range s.Partition {
			g = append(g, strings.Join(x, ","))
		}
		return "partition " + strings.Join(g, " | ")
	case s.Block != nil:
		return "block " + s.Block.String()
	case s.ShapeIface != "" && s.Shape == nil:
		return "shape " + s.ShapeIface + " off"
	case s.ShapeIface != "":
		return "shape " + s.ShapeIface + " " + s.Shape.String()
	}
	return "heal"
}

// Flap makes the steps of a flapping cable: cut at 0, joined again after
// down, every period, for as long as d; the last step joins it.
func Flap(iface string, period, down, d time.Duration) ([]Step, error) {
	if period <= 0 || down <= 0 || down >= period || d < period {
		return nil, fmt.Errorf("flap %s: give a period longer than the down time, both above 0, and a duration of a period or more (period %v, down %v, for %v)", iface, period, down, d)
	}
	var steps []Step
	for at := time.Duration(0); at+down <= d; at += period {
		steps = append(steps, Step{At: at, Cut: iface}, Step{At: at + down, Join: iface})
	}
	return steps, nil
}

// stepDecl is a step as a schedule file writes it.
type stepDecl struct {
	At        string     `yaml:"at"`
	Cut       string     `yaml:"cut"`
	Join      string     `yaml:"join"`
	Partition [][]string `yaml:"partition"`
	Block     *struct {
		From []string `yaml:"from"`
		To   []string `yaml:"to"`
		Loss string   `yaml:"loss"`
	} `yaml:"block"`
	Shape *shapeDecl `yaml:"shape"`
	Heal  bool       `yaml:"heal"`
	Flap  *struct {
		Iface  string `yaml:"iface"`
		Period string `yaml:"period"`
		Down   string `yaml:"down"`
		For    string `yaml:"for"`
	} `yaml:"flap"`
}

// shapeDecl is a shape step as a schedule file writes it: the options of
// nslab link shape, or off.
type shapeDecl struct {
	Iface     string `yaml:"iface"`
	Rate      string `yaml:"rate"`
	Delay     string `yaml:"delay"`
	Jitter    string `yaml:"jitter"`
	Loss      string `yaml:"loss"`
	Duplicate string `yaml:"duplicate"`
	Reorder   string `yaml:"reorder"`
	Corrupt   string `yaml:"corrupt"`
	Direction string `yaml:"direction"`
	Off       bool   `yaml:"off"`
}

// shape is the step's shape; nil for off.
func (d *shapeDecl) shape() (*topology.Shape, error) {
	set := d.Rate != "" || d.Delay != "" || d.Jitter != "" || d.Loss != "" || d.Duplicate != "" || d.Reorder != "" || d.Corrupt != "" || d.Direction != ""
	if d.Off {
		if set {
			return nil, fmt.Errorf("off takes no shape options")
		}
		return nil, nil
	}
	if !set {
		return nil, fmt.Errorf("give a shape (rate, delay, jitter, loss, duplicate, reorder, corrupt), or off: true to take the shaping off")
	}
	s := &topology.Shape{}
	var err error
	if d.Rate != "" {
		if s.Rate, err = topology.ParseRate(d.Rate); err != nil {
			return nil, fmt.Errorf("rate: %w", err)
		}
	}
	for _, x := range []struct {
		key, v string
		to     *time.Duration
	}{{"delay", d.Delay, &s.Delay}, {"jitter", d.Jitter, &s.Jitter}} {
		if x.v == "" {
			continue
		}
		if *x.to, err = time.ParseDuration(x.v); err != nil || *x.to < 0 {
			return nil, fmt.Errorf("%s %q: give a duration, as 20ms", x.key, x.v)
		}
	}
	for _, x := range []struct {
		key, v string
		to     *float64
	}{{"loss", d.Loss, &s.Loss}, {"duplicate", d.Duplicate, &s.Duplicate}, {"reorder", d.Reorder, &s.Reorder}, {"corrupt", d.Corrupt, &s.Corrupt}} {
		if x.v == "" {
			continue
		}
		if *x.to, err = strconv.ParseFloat(strings.TrimSuffix(x.v, "%"), 64); err != nil || *x.to <= 0 || *x.to > 100 {
			return nil, fmt.Errorf("%s %q: give a percentage above 0, at most 100 (%s: 1%%)", x.key, x.v, x.key)
		}
	}
	switch d.Direction {
	case "", "both":
	case topology.WayOut, topology.WayIn:
		s.Way = d.Direction
	default:
		return nil, fmt.Errorf("direction %q: write out (what leaves the interface), in (what comes into it) or both", d.Direction)
	}
	return s, nil
}

// ParseSchedule reads a fault schedule: a YAML list of steps, each with
// its time from the start and one action, in the order of their times.
//
//   - {at: 0s, cut: ns1:eth0}
//   - {at: 2s, join: ns1:eth0}
//   - {at: 3s, partition: [[ns1], [ns2, ns3]]}
//   - {at: 5s, block: {from: [ns1], to: [ns2], loss: 10%}}
//   - {at: 6s, flap: {iface: ns2:eth0, period: 1s, down: 300ms, for: 4s}}
//   - {at: 10s, shape: {iface: ns1:eth0, rate: 5mbit, loss: 10%, direction: out}}
//   - {at: 10.5s, shape: {iface: ns1:eth0, off: true}}
//   - {at: 11s, heal: true}
//
// Errors carry file:line:col. t, when given, is the lab the schedule is
// for: nodes and interfaces are checked against it.
func ParseSchedule(file string, data []byte, t *topology.Lab) ([]Step, error) {
	var root yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&root); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	if len(root.Content) == 0 || root.Content[0].Kind != yaml.SequenceNode {
		return nil, fmt.Errorf("%s:1:1: a schedule is a list of steps (- {at: 0s, cut: ns1:eth0})", file)
	}
	var steps []Step
	var errs []error
	last := time.Duration(-1)
	for _, n := range root.Content[0].Content {
		pos := fmt.Sprintf("%s:%d:%d", file, n.Line, n.Column)
		got, err := parseStep(n, pos, t)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if got[0].At < last {
			errs = append(errs, fmt.Errorf("%s: step at %v comes after one at %v: write the steps in the order of their times", pos, got[0].At, last))
		}
		last = got[len(got)-1].At
		steps = append(steps, got...)
	}
	if len(errs) == 0 && len(steps) == 0 {
		errs = append(errs, fmt.Errorf("%s: the schedule has no steps", file))
	}
	return steps, errors.Join(errs...)
}

func parseStep(n *yaml.Node, pos string, t *topology.Lab) ([]Step, error) {
	var d stepDecl
	if err := decodeKnown(n, &d); err != nil {
		return nil, fmt.Errorf("%s: %v (a step has at and one of cut, join, partition, block, shape, flap, heal)", pos, err)
	}
	at, err := time.ParseDuration(d.At)
	if err != nil || at < 0 {
		return nil, fmt.Errorf("%s: at %q: give the step's time from the start, as 1.5s", pos, d.At)
	}
	actions := 0
	for _, set := range []bool{d.Cut != "", d.Join != "", d.Partition != nil, d.Block != nil, d.Shape != nil, d.Heal, d.Flap != nil} {
		if set {
			actions++
		}
	}
	if actions != 1 {
		return nil, fmt.Errorf("%s: a step does one thing: cut, join, partition, block, shape, flap or heal (this one has %d)", pos, actions)
	}
	s := Step{At: at, Cut: d.Cut, Join: d.Join, Partition: d.Partition, Heal: d.Heal, Pos: pos}
	for _, ref := range []string{d.Cut, d.Join} {
		if err := checkIface(t, ref); err != nil {
			return nil, fmt.Errorf("%s: %w", pos, err)
		}
	}
	if d.Partition != nil {
		if _, err := planOn(t, func(t *topology.Lab) (*plan.Plan, error) { return plan.Partition(t, d.Partition) }); err != nil {
			return nil, fmt.Errorf("%s: partition: %w", pos, err)
		}
	}
	if b := d.Block; b != nil {
		s.Block = &plan.Block{From: b.From, To: b.To}
		if b.Loss != "" {
			v, err := strconv.ParseFloat(strings.TrimSuffix(b.Loss, "%"), 64)
			if err != nil || v <= 0 || v >= 100 {
				return nil, fmt.Errorf("%s: block loss %q: give a percentage above 0 and below 100, or leave it out to drop everything", pos, b.Loss)
			}
			s.Block.Loss = v
		}
		if _, err := planOn(t, func(t *topology.Lab) (*plan.Plan, error) { return plan.Filters(t, nil, []plan.Block{*s.Block}) }); err != nil {
			return nil, fmt.Errorf("%s: block: %w", pos, err)
		}
	}
	if d.Shape != nil {
		if d.Shape.Iface == "" {
			return nil, fmt.Errorf("%s: shape: name the interface whose cable it shapes (iface: ns1:eth0)", pos)
		}
		if err := checkIface(t, d.Shape.Iface); err != nil {
			return nil, fmt.Errorf("%s: shape: %w", pos, err)
		}
		sh, err := d.Shape.shape()
		if err != nil {
			return nil, fmt.Errorf("%s: shape: %w", pos, err)
		}
		if err := plan.CheckShape(sh); err != nil {
			return nil, fmt.Errorf("%s: shape: %w", pos, err)
		}
		node, iface, _ := strings.Cut(d.Shape.Iface, ":")
		if _, err := planOn(t, func(t *topology.Lab) (*plan.Plan, error) { return plan.Shape(t, node, iface, sh) }); err != nil {
			return nil, fmt.Errorf("%s: shape: %w", pos, err)
		}
		s.ShapeIface, s.Shape = d.Shape.Iface, sh
	}
	if f := d.Flap; f != nil {
		var ds [3]time.Duration
		for i, v := range []string{f.Period, f.Down, f.For} {
			if ds[i], err = time.ParseDuration(v); err != nil {
				return nil, fmt.Errorf("%s: flap: period, down and for are durations, as 1s, 300ms, 10s", pos)
			}
		}
		if err := checkIface(t, f.Iface); err != nil {
			return nil, fmt.Errorf("%s: flap: %w", pos, err)
		}
		steps, err := Flap(f.Iface, ds[0], ds[1], ds[2])
		if err != nil {
			return nil, fmt.Errorf("%s: %w", pos, err)
		}
		for i := range steps {
			steps[i].At += at
			steps[i].Pos = pos
		}
		return steps, nil
	}
	return []Step{s}, nil
}

// decodeKnown decodes a node, refusing unknown keys.
func decodeKnown(n *yaml.Node, v any) error {
	out, err := yaml.Marshal(n)
	if err != nil {
		return err
	}
	dec := yaml.NewDecoder(bytes.NewReader(out))
	dec.KnownFields(true)
	return dec.Decode(v)
}

// checkIface checks node:iface against the lab, when there is one.
func checkIface(t *topology.Lab, ref string) error {
	if ref == "" || t == nil {
		return nil
	}
	node, iface, ok := strings.Cut(ref, ":")
	if !ok {
		return fmt.Errorf("%q: write NODE:IF", ref)
	}
	_, err := plan.Cut(t, node, iface, false)
	return err
}

func planOn(t *topology.Lab, f func(*topology.Lab) (*plan.Plan, error)) (*plan.Plan, error) {
	if t == nil {
		return nil, nil
	}
	return f(t)
}

// StepEvent is one line of a schedule's log (JSON lines): a step done,
// or the revert at its end.
type StepEvent struct {
	Time time.Time `json:"time"`
	Lab  string    `json:"lab"`
	// At is the step's time from the start, in milliseconds; Late is how
	// much later than that it was done.
	At   float64 `json:"at_ms"`
	Late float64 `json:"late_ms"`
	Step string  `json:"step"`
	Err  string  `json:"error,omitempty"`
}

// RunSchedule runs the steps on a running lab on this machine (see
// RunScheduleOn). While it runs, the lab's record names it
// (Faults.Runner) and holds what it did: if it is killed, the next heal
// or down reverts it. what names it there.
func RunSchedule(ctx context.Context, name, what string, steps []Step, opt Options, log func(StepEvent)) error {
	return RunScheduleOn(ctx, LocalFaults(opt), name, what, steps, log)
}

// LocalFaults are the fault operations of labs on this machine, as a
// schedule does them: Cut, Partition, Block, Shape and Heal with opt.
func LocalFaults(opt Options) Faulter {
	return FaultFuncs[Options]{Opt: opt, Claim: claim, Cut: Cut, Partition: Partition, Block: Block, Shape: Shape, Heal: heal}.Faulter()
}

// claim records r as the lab's runner, refusing when another live one
// holds the lab.
func claim(ctx context.Context, name string, r *plan.Runner, opt Options) error {
	var busy *plan.Runner
	err := change(ctx, name, opt, func(t *topology.Lab) (*plan.Plan, error) { return &plan.Plan{Lab: name}, nil },
		func(f *plan.Faults) {
			if f.Runner != nil && f.Runner.PID != r.PID && alive(f.Runner.PID) {
				busy = f.Runner
				return
			}
			f.Runner = r
		})
	if err == nil && busy != nil {
		err = Busy(name, busy)
	}
	return err
}

// alive reports whether a process runs with pid.
func alive(pid int) bool {
	_, err := os.Stat(fmt.Sprintf("/proc/%d", pid))
	return err == nil
}
