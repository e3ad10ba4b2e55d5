package fleet

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/nslab/nslab/lab"
	"github.com/nslab/nslab/plan"
	"github.com/nslab/nslab/topology"
)

// Faults of a lab across machines are made from the machine that brought
// it up, as on one machine: cuts, runtime shapes, the partition, blocks,
// heal and schedules. Each is worked out on the whole lab (which host
// holds which end of a cable, which nodes a filter goes to), and each
// host concerned gets its share's part in one ssh session (nslab
// host-fault: a list of FaultOp on standard input), all hosts at once.
// The faults in force of the whole lab are kept beside the record
// (StateDir/.fleet/LAB.faults): check ships them to every host, so that
// each host's probes expect what the faults separate, and status shows
// them.

// FaultOp is one change a host makes to its share of a lab across
// machines (see ApplyFaults).
type FaultOp struct {
	// Op is cut, join, shape, filters or heal.
	Op string `json:"op"`
	// Node and Iface name the cable's end a cut, join or shape is about.
	Node  string `json:"node,omitempty"`
	Iface string `json:"iface,omitempty"`
	// Shape is the shape a shape sets; nil or Off takes the shaping off.
	Shape *plan.RuntimeShape `json:"shape,omitempty"`
	// Partition and Blocks are the whole lab's partition and blocks
	// (filters): each node of the share gets its filter of them.
	Partition [][]string   `json:"partition,omitempty"`
	Blocks    []plan.Block `json:"blocks,omitempty"`
}

// FaultResult is what a host reports of its FaultOps.
type FaultResult struct {
	// Healed says a heal found something to revert on the host.
	Healed bool `json:"healed,omitempty"`
}

// ApplyFaults does ops, in order, on this machine's share of lab name
// (what nslab host-fault runs); it stops at the first that fails.
func ApplyFaults(ctx context.Context, name string, ops []FaultOp, opt lab.Options) (FaultResult, error) {
	var res FaultResult
	for _, o := range ops {
		var err error
		switch o.Op {
		case "cut", "join":
			err = lab.Cut(ctx, name, o.Node, o.Iface, o.Op == "join", opt)
		case "shape":
			var s *topology.Shape
			if o.Shape != nil {
				s = o.Shape.Shape()
			}
			err = lab.Shape(ctx, name, o.Node, o.Iface, s, opt)
		case "filters":
			err = lab.ShareFilters(ctx, name, o.Partition, o.Blocks, opt)
		case "heal":
			var healed bool
			healed, err = lab.Heal(ctx, name, opt)
			res.Healed = res.Healed || healed
		default:
			err = fmt.Errorf("lab %s: unknown fault %q: is nslab here older than the one that sent it?", name, o.Op)
		}
		if err != nil {
			return res, err
		}
	}
	return res, nil
}

func faultsPath(name string) string { return filepath.Join(recordDir(), name+".faults") }

// FaultsOf is the record of the faults in force in a lab across machines
// brought up here, in the whole lab's names: none when it has none.
func FaultsOf(name string) *plan.Faults {
	f := &plan.Faults{}
	if data, err := os.ReadFile(faultsPath(name)); err == nil {
		json.Unmarshal(data, f)
	}
	return f
}

func writeFaults(name string, f *plan.Faults) error {
	if f.Empty() {
		if err := os.Remove(faultsPath(name)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		return nil
	}
	data, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return err
	}
	tmp := faultsPath(name) + ".new"
	if err := os.WriteFile(tmp, append(data, '\n'), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, faultsPath(name))
}

// Whole is a lab across machines brought up here, as its file makes it
// (every node, with the addresses chosen at up), and where its nodes are.
func Whole(name string) (*topology.Lab, *Record, error) {
	rec, err := readRecord(name)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil, fmt.Errorf("lab %s is not a lab across machines brought up here (no %s)", name, recordPath(name))
	}
	if err != nil {
		return nil, nil, err
	}
	if len(rec.Source) == 0 {
		return nil, nil, fmt.Errorf("lab %s: its record (%s) has no copy of the lab's file (an older nslab brought it up): run nslab up with its file again from here", name, recordPath(name))
	}
	t, err := topology.ParseWith(rec.File, rec.Source, rec.Assigned)
	if err != nil {
		return nil, nil, fmt.Errorf("lab %s: reading its file as up read it: %w", name, err)
	}
	t.Name = rec.Lab
	return t, rec, nil
}

// faultCmd is one fault command on a lab across machines, under the
// lock of its record: the whole lab and its faults in force.
type faultCmd struct {
	t    *topology.Lab
	rec  *Record
	f    *plan.Faults
	opt  *Options
	lock *os.File
}

func startFault(ctx context.Context, name string, opt *Options) (*faultCmd, error) {
	if _, _, err := Whole(name); err != nil {
		return nil, err
	}
	lk, err := os.Open(recordPath(name))
	if err != nil {
		return nil, err
	}
	if err := unix.Flock(int(lk.Fd()), unix.LOCK_EX); err != nil {
		lk.Close()
		return nil, fmt.Errorf("lab %s: locking %s: %w", name, recordPath(name), err)
	}
	t, rec, err := Whole(name) // as it is now that it is ours
	if err != nil {
		lk.Close()
		return nil, err
	}
	return &faultCmd{t: t, rec: rec, f: FaultsOf(name), opt: opt, lock: lk}, nil
}

func (c *faultCmd) done() { c.lock.Close() }

// send has every host of ops do its ops, all at once, one ssh session
// each (in this process for the local host). It returns what each host
// reported, the hosts that did theirs, and the errors, each naming its
// host.
func (c *faultCmd) send(ctx context.Context, ops map[string][]FaultOp) (map[string]FaultResult, []string, error) {
	var mu sync.Mutex
	res := map[string]FaultResult{}
	var ok []string
	var hosts []HostRecord
	for _, hr := range c.rec.Hosts {
		if len(ops[hr.Name]) > 0 {
			hosts = append(hosts, hr)
		}
	}
	errs := make([]error, len(hosts))
	var wg sync.WaitGroup
	for i, hr := range hosts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := c.sendHost(ctx, hr, ops[hr.Name])
			errs[i] = err
			if err == nil {
				mu.Lock()
				res[hr.Name] = r
				ok = append(ok, hr.Name)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	sort.Strings(ok)
	return res, ok, errors.Join(errs...)
}

func (c *faultCmd) sendHost(ctx context.Context, hr HostRecord, ops []FaultOp) (FaultResult, error) {
	var r FaultResult
	if hr.Local {
		r, err := ApplyFaults(ctx, c.rec.Lab, ops, c.opt.Lab)
		if err != nil {
			err = fmt.Errorf("host %s (local): %w", hr.Name, err)
		}
		return r, err
	}
	h, done, err := c.remote(hr)
	if err != nil {
		return r, err
	}
	defer done()
	data, err := json.Marshal(ops)
	if err != nil {
		return r, err
	}
	err = h.sshJSON(ctx, data, h.binary+" host-fault -q "+c.rec.Lab, &r)
	return r, err
}

// sshJSON runs a command line on the host with stdin as its standard
// input, and reads its standard output as JSON into v; an error says the
// host's name and what the command wrote on its standard error.
func (h *host) sshJSON(ctx context.Context, stdin []byte, line string, v any) error {
	cmd := exec.CommandContext(ctx, "ssh", h.sshArgs(line)...)
	cmd.Stdin = bytes.NewReader(stdin)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := run(cmd)
	msg := strings.TrimSpace(e.String())
	if ee := (*exec.ExitError)(nil); errors.As(err, &ee) && ee.ExitCode() == 255 {
		return fmt.Errorf("host %s (%s): ssh failed: %s (check that `ssh %s true` works without a prompt)", h.m.Name, h.m.Where(), msg, h.m.SSH)
	}
	if err != nil {
		if msg == "" {
			msg = err.Error()
		}
		return fmt.Errorf("host %s (%s): %s", h.m.Name, h.m.Where(), strings.TrimPrefix(msg, "nslab: "))
	}
	if v != nil && o.Len() > 0 {
		if err := json.Unmarshal(o.Bytes(), v); err != nil {
			return fmt.Errorf("host %s (%s): reading what it answered: %w", h.m.Name, h.m.Where(), err)
		}
	}
	return nil
}

// finish records the faults of a command that hosts ok did, and says
// what happened when some failed: the fault holds where it was done, and
// heal reverts it there.
func (c *faultCmd) finish(ok []string, err error, record func(*plan.Faults)) error {
	if len(ok) > 0 || err == nil {
		record(c.f)
		if werr := writeFaults(c.rec.Lab, c.f); werr != nil {
			err = errors.Join(err, fmt.Errorf("lab %s: saving its faults: %w", c.rec.Lab, werr))
		}
	}
	if err != nil && len(ok) > 0 {
		return fmt.Errorf("%w\n(done on %s: nslab heal %s reverts it there)", err, strings.Join(ok, ", "), c.rec.Lab)
	}
	return err
}

// ifaceOf finds node:iface of lab t ("host" for a host interface).
func ifaceOf(t *topology.Lab, node, iface string) *topology.Interface {
	if node == topology.HostNode {
		for _, i := range t.Host {
			if i.Name == iface {
				return i
			}
		}
		return nil
	}
	if n := t.Node(node); n != nil {
		return n.Interface(iface)
	}
	return nil
}

// hostOf is the machine that holds an end of a cable: its node's, or for
// a host interface the machine of the node at its other end.
func hostOf(pl topology.Placement, i *topology.Interface) string {
	if !i.OnHost() {
		return pl[i.Node]
	}
	if f := farOf(i); f != nil {
		return pl[f.Node]
	}
	return ""
}

// farOf is the other end of i's cable when it is an interface (a node's
// or the host's), nil for a bridge port.
func farOf(i *topology.Interface) *topology.Interface {
	l := i.Link
	if l == nil || l.Kind != topology.Peer {
		return nil
	}
	if l.A == i {
		return l.B
	}
	return l.A
}

// across says whether i's cable joins two nodes on different machines,
// and if so gives its other end.
func across(pl topology.Placement, i *topology.Interface) *topology.Interface {
	f := farOf(i)
	if f == nil || f.OnHost() || i.OnHost() || pl[f.Node] == pl[i.Node] {
		return nil
	}
	return f
}

// CutOps plans cutting (up false) or joining again the cable of
// node:iface of the whole lab t placed by pl, host by host: the node's
// host cuts its end as on one machine; a cable to a node on another
// machine is cut there too, at its other end, so that both ends lose
// their carrier and nothing crosses the tunnel either way.
func CutOps(t *topology.Lab, pl topology.Placement, node, iface string, up bool) (map[string][]FaultOp, error) {
	if _, err := plan.Cut(t, node, iface, up); err != nil {
		return nil, err
	}
	i := ifaceOf(t, node, iface)
	op := map[bool]string{false: "cut", true: "join"}[up]
	out := map[string][]FaultOp{hostOf(pl, i): {{Op: op, Node: node, Iface: iface}}}
	if f := across(pl, i); f != nil {
		out[pl[f.Node]] = []FaultOp{{Op: op, Node: f.Node, Iface: f.Name}}
	}
	return out, nil
}

// Cut cuts the cable of node:iface of a lab across machines brought up
// here, or joins it again (see CutOps and lab.Cut).
func Cut(ctx context.Context, name, node, iface string, up bool, opt Options) error {
	c, err := startFault(ctx, name, &opt)
	if err != nil {
		return err
	}
	defer c.done()
	ops, err := CutOps(c.t, c.rec.Placement, node, iface, up)
	if err != nil {
		return err
	}
	_, ok, err := c.send(ctx, ops)
	return c.finish(ok, err, func(f *plan.Faults) {
		f.SetCut(node, iface, up)
		if far := across(c.rec.Placement, ifaceOf(c.t, node, iface)); far != nil && up {
			f.SetCut(far.Node, far.Name, true) // the cable is whole again
		}
	})
}

// ShapeOps plans shaping the cable of node:iface of the whole lab t at
// runtime (s nil: no shaping), host by host: the node's host shapes the
// cable's two veth ends there, both ways as the shape says; a cable to a
// node on another machine whose other end is shaped (by the file, or at
// runtime in f) has that shaping taken off there, so that the cable is
// shaped by s alone, as on one machine.
func ShapeOps(t *topology.Lab, pl topology.Placement, f *plan.Faults, node, iface string, s *topology.Shape) (map[string][]FaultOp, error) {
	if _, err := plan.Shape(t, node, iface, s); err != nil {
		return nil, err
	}
	i := ifaceOf(t, node, iface)
	var one plan.Faults
	one.SetShape(t, node, iface, s)
	out := map[string][]FaultOp{hostOf(pl, i): {{Op: "shape", Node: node, Iface: iface, Shape: &one.Shapes[0]}}}
	if far := across(pl, i); far != nil {
		ref := far.Node + ":" + far.Name
		if far.Shape != nil || slices.ContainsFunc(f.Shapes, func(r plan.RuntimeShape) bool { return r.Iface == ref && !r.Off }) {
			out[pl[far.Node]] = []FaultOp{{Op: "shape", Node: far.Node, Iface: far.Name, Shape: &plan.RuntimeShape{Iface: ref, Off: true}}}
		}
	}
	return out, nil
}

// Shape shapes the cable of node:iface of a lab across machines brought
// up here at runtime, or takes its shaping off (s nil): see ShapeOps and
// lab.Shape.
func Shape(ctx context.Context, name, node, iface string, s *topology.Shape, opt Options) error {
	c, err := startFault(ctx, name, &opt)
	if err != nil {
		return err
	}
	defer c.done()
	ops, err := ShapeOps(c.t, c.rec.Placement, c.f, node, iface, s)
	if err != nil {
		return err
	}
	_, ok, err := c.send(ctx, ops)
	return c.finish(ok, err, func(f *plan.Faults) { f.SetShape(c.t, node, iface, s) })
}

// FilterOps plans the node filters of the whole lab's partition and
// blocks, host by host: every host with nodes gets them all and filters
// in its own nodes what they ask of each (lab.ShareFilters), so that a
// partition or a block between nodes on different machines holds both
// ways across the tunnels, and nodes in no group lose the filters they
// had.
func FilterOps(t *topology.Lab, pl topology.Placement, groups [][]string, blocks []plan.Block) (map[string][]FaultOp, error) {
	if _, err := plan.Filters(t, groups, blocks); err != nil {
		return nil, err
	}
	out := map[string][]FaultOp{}
	for _, h := range pl {
		out[h] = []FaultOp{{Op: "filters", Partition: groups, Blocks: blocks}}
	}
	return out, nil
}

// Partition splits a lab across machines brought up here into groups of
// nodes that do not reach each other (see lab.Partition); no groups
// heals the partition.
func Partition(ctx context.Context, name string, groups [][]string, opt Options) error {
	return filters(ctx, name, opt, func(f *plan.Faults) { f.Partition = groups })
}

// Block drops what some nodes of a lab across machines brought up here
// send to others, one way, beside the partition and blocks in force
// (see lab.Block).
func Block(ctx context.Context, name string, b plan.Block, opt Options) error {
	return filters(ctx, name, opt, func(f *plan.Faults) { f.AddBlock(b) })
}

func filters(ctx context.Context, name string, opt Options, record func(*plan.Faults)) error {
	c, err := startFault(ctx, name, &opt)
	if err != nil {
		return err
	}
	defer c.done()
	next := *c.f
	next.Partition, next.Blocks = slices.Clone(c.f.Partition), slices.Clone(c.f.Blocks)
	record(&next)
	ops, err := FilterOps(c.t, c.rec.Placement, next.Partition, next.Blocks)
	if err != nil {
		return err
	}
	_, ok, err := c.send(ctx, ops)
	return c.finish(ok, err, record)
}

// Heal reverts every fault in force in a lab across machines brought up
// here, on every host with nodes (lab.Heal there): it reports whether there was
// anything to revert. A host that fails keeps the record whole, so that
// the next heal tries every host again.
func Heal(ctx context.Context, name string, opt Options) (bool, error) {
	return heal(ctx, name, opt, false)
}

// heal is Heal; keepRunner keeps this process's own record as the lab's
// runner (a heal step of a schedule).
func heal(ctx context.Context, name string, opt Options, keepRunner bool) (bool, error) {
	c, err := startFault(ctx, name, &opt)
	if err != nil {
		return false, err
	}
	defer c.done()
	ops := map[string][]FaultOp{}
	for _, h := range c.rec.Placement { // the hosts with nodes: the faults are theirs
		ops[h] = []FaultOp{{Op: "heal"}}
	}
	res, _, err := c.send(ctx, ops)
	healed := len(c.f.Cuts)+len(c.f.Partition)+len(c.f.Blocks)+len(c.f.Shapes) > 0
	for _, r := range res {
		healed = healed || r.Healed
	}
	if err != nil {
		return healed, err
	}
	runner := c.f.Runner
	if runner != nil && (!alive(runner.PID) || runner.PID == os.Getpid() && !keepRunner) {
		healed, runner = true, nil
	}
	return healed, writeFaults(name, &plan.Faults{Runner: runner})
}

func alive(pid int) bool {
	_, err := os.Stat(fmt.Sprintf("/proc/%d", pid))
	return err == nil
}

// kept holds, while a schedule runs (keepConnections), the ssh
// connection to each host (one ControlMaster) from one step to the next:
// a step costs a session on it, not a connection.
var kept struct {
	sync.Mutex
	ctl   string
	hosts map[string]*host
}

// remote is the host of hr ready for ssh: on the connection kept for it
// while a schedule runs, else on one of its own that done closes.
func (c *faultCmd) remote(hr HostRecord) (*host, func(), error) {
	kept.Lock()
	defer kept.Unlock()
	if kept.hosts == nil {
		return remoteHost(c.rec, hr, c.opt)
	}
	key := c.rec.Lab + "\x00" + hr.Name
	h := kept.hosts[key]
	if h == nil {
		h = &host{m: &topology.Machine{Name: hr.Name, SSH: hr.SSH, Sudo: hr.Sudo}, opt: c.opt, ctl: kept.ctl, binary: hr.Binary}
		kept.hosts[key] = h
	}
	return h, func() {}, nil
}

// keepConnections keeps the hosts' ssh connections from one fault
// command to the next until release.
func keepConnections() (release func(), err error) {
	ctl, err := controlDir()
	if err != nil {
		return nil, err
	}
	kept.Lock()
	kept.ctl, kept.hosts = ctl, map[string]*host{}
	kept.Unlock()
	return func() {
		kept.Lock()
		defer kept.Unlock()
		for _, h := range kept.hosts {
			h.closeMaster()
		}
		removeControlDir(kept.ctl)
		kept.ctl, kept.hosts = "", nil
	}, nil
}
