package nslab

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"syscall"

	"github.com/nslab/nslab/check"
	"github.com/nslab/nslab/lab"
	"github.com/nslab/nslab/topology"
)

// Options tune how a lab is built, changed and removed; the zero value
// is ready to use. See lab.Options.
type Options = lab.Options

// Lab is a running lab that Start built, owned by the program that
// started it until Close removes it. Its methods may be called from any
// goroutine; those that change the lab take the lab's lock, as the
// nslab commands do, and so take turns with them.
type Lab struct {
	name string
	opt  lab.Options

	mu     sync.Mutex
	topo   *topology.Lab // the topology in force, addresses assigned
	procs  []started     // processes started through the handle
	closed bool
	err    error // Close's result, returned again by later calls
}

// Start builds the lab t describes and returns a handle that owns it.
// t must carry its text (topology.Parse, Load and Builder keep it in
// t.Source). A lab of that name that exists already (built by nslab up,
// or left by a program that died) is refused, not taken over: Close would
// remove it. When Start fails, or ctx is cancelled before it returns,
// nothing of the lab is left (unless opt.KeepFailed).
func Start(ctx context.Context, t *topology.Lab, opt Options) (*Lab, error) {
	if lab.Exists(t.Name) {
		return nil, fmt.Errorf("lab %s exists already: start the lab under another name (topology.Lab's Name), or remove it first with nslab down %s", t.Name, t.Name)
	}
	if err := lab.Up(ctx, t, nil, opt); err != nil {
		return nil, err
	}
	l := &Lab{name: t.Name, opt: opt, topo: t}
	if saved, err := lab.Topology(t.Name); err == nil {
		l.topo = saved
	}
	return l, nil
}

// Name is the lab's name: its nodes are the namespaces NAME.NODE.
func (l *Lab) Name() string { return l.name }

// Topology is the topology in force: the one Start or the last Apply
// gave, with the addresses nslab chose filled in.
func (l *Lab) Topology() *topology.Lab {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.topo
}

// Node returns the node called name. A name the lab does not have gives
// a node whose every method fails, saying so.
func (l *Lab) Node(name string) *Node {
	n := &Node{lab: l, name: name}
	if l.Topology().Node(name) == nil {
		n.err = fmt.Errorf("lab %s has no node %q (nodes: %s)", l.name, name, strings.Join(l.nodeNames(), ", "))
	}
	return n
}

// Nodes returns the lab's nodes, sorted by name.
func (l *Lab) Nodes() []*Node {
	var out []*Node
	for _, name := range l.nodeNames() {
		out = append(out, &Node{lab: l, name: name})
	}
	return out
}

func (l *Lab) nodeNames() []string {
	var names []string
	for _, n := range l.Topology().Nodes {
		names = append(names, n.Name)
	}
	return names
}

// Apply changes the running lab to match t, as nslab up with a changed
// file does: only the difference is made, and untouched nodes keep their
// namespaces, sockets and processes. t's name is replaced by the lab's,
// so a topology written for another name (a test's unique one) applies.
func (l *Lab) Apply(ctx context.Context, t *topology.Lab) error {
	if err := l.open(); err != nil {
		return err
	}
	c := *t
	c.Name = l.name
	if err := lab.Up(ctx, &c, nil, l.opt); err != nil {
		return err
	}
	saved, err := lab.Topology(l.name)
	if err != nil {
		saved = &c
	}
	l.mu.Lock()
	l.topo = saved
	l.mu.Unlock()
	return nil
}

// Cut cuts the cable of node's interface iface as when it is pulled out
// at its far end: the interface loses carrier and keeps its addresses and
// routes. Equivalent to: nslab link down NODE:IFACE. Node "host" names a
// host interface.
func (l *Lab) Cut(ctx context.Context, node, iface string) error {
	if err := l.open(); err != nil {
		return err
	}
	return lab.Cut(ctx, l.name, node, iface, false, l.opt)
}

// Join joins a cable that Cut cut: addresses, routes and neighbours are
// as before. Equivalent to: nslab link up NODE:IFACE.
func (l *Lab) Join(ctx context.Context, node, iface string) error {
	if err := l.open(); err != nil {
		return err
	}
	return lab.Cut(ctx, l.name, node, iface, true, l.opt)
}

// Partition splits the lab into groups of nodes that do not reach each
// other (both families, open connections included); nodes in no group
// and the host are left alone. A new partition replaces the one in force.
// Equivalent to: nslab partition --lab LAB a,b c.
func (l *Lab) Partition(ctx context.Context, groups ...[]string) error {
	if err := l.open(); err != nil {
		return err
	}
	if len(groups) < 2 {
		return fmt.Errorf("lab %s: a partition needs two groups of nodes or more, got %d", l.name, len(groups))
	}
	return lab.Partition(ctx, l.name, groups, l.opt)
}

// Heal takes the partition in force away; with none it changes nothing.
// Equivalent to: nslab heal LAB.
func (l *Lab) Heal(ctx context.Context) error {
	if err := l.open(); err != nil {
		return err
	}
	_, err := lab.Heal(ctx, l.name, l.opt)
	return err
}

// Shape shapes the cable of node's interface iface, both ways, at once;
// nil takes the shaping off. The lab's topology is not changed: the
// shape is a fault in force (Status lists it), kept by Apply and a repair
// until Heal puts back the topology's shaping or the cable is made anew.
// Equivalent to: tc qdisc replace dev IFACE root … on both ends.
func (l *Lab) Shape(ctx context.Context, node, iface string, s *topology.Shape) error {
	if err := l.open(); err != nil {
		return err
	}
	return lab.Shape(ctx, l.name, node, iface, s, l.opt)
}

// Check probes the lab from every node and the host with the built-in
// ICMP prober: every pair the topology connects must answer
// (rep.Failed == 0). Equivalent to: nslab check LAB.
func (l *Lab) Check(ctx context.Context, opt check.Options) (*check.Report, error) {
	if err := l.open(); err != nil {
		return nil, err
	}
	return lab.Check(ctx, l.Topology(), opt)
}

// MeasureShapes measures every cable with a shape in force, both ways
// (one-way delay, round trip, loss, rate), and holds each figure to the
// shape (check.Tolerance): the report's Failures name those outside it.
// Equivalent to: nslab check --measure LAB.
func (l *Lab) MeasureShapes(ctx context.Context) (*check.MeasureReport, error) {
	if err := l.open(); err != nil {
		return nil, err
	}
	return lab.MeasureShapes(ctx, l.Topology())
}

// Status is the lab as the kernel shows it. Equivalent to: nslab status
// LAB.
func (l *Lab) Status() (*lab.Status, error) {
	if err := l.open(); err != nil {
		return nil, err
	}
	return lab.GetStatus(l.name)
}

// Close ends the processes started through the handle and removes the
// lab, as nslab down does (which ends every other process in its nodes
// too). Every step is tried; the errors of those that failed are joined.
// Later calls do nothing and return the first call's result.
func (l *Lab) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return l.err
	}
	l.closed = true
	var errs []error
	for _, p := range l.procs {
		if err := p.proc.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
			errs = append(errs, fmt.Errorf("lab %s: ending %s (pid %d) in node %s: %w", l.name, p.path, p.proc.Pid, p.node, err))
		}
	}
	if err := lab.Down(context.Background(), l.name, l.opt); err != nil {
		errs = append(errs, fmt.Errorf("lab %s: removing it: %w", l.name, err))
	}
	l.err = errors.Join(errs...)
	return l.err
}

func (l *Lab) open() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return fmt.Errorf("lab %s is closed", l.name)
	}
	return nil
}

// started is a process started through the handle, which Close ends.
type started struct {
	proc       *os.Process
	path, node string
}

// track records a process that c started, forgetting those that ended.
func (l *Lab) track(c *Cmd) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.procs = slices.DeleteFunc(l.procs, func(p started) bool { return errors.Is(p.proc.Signal(syscall.Signal(0)), os.ErrProcessDone) })
	l.procs = append(l.procs, started{c.Process, c.Path, c.node.name})
}
