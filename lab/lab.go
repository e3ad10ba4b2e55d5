package lab

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/nslab/nslab/internal/netnsdir"
	"github.com/nslab/nslab/journal"
	"github.com/nslab/nslab/kernel"
	"github.com/nslab/nslab/plan"
	"github.com/nslab/nslab/service"
	"github.com/nslab/nslab/topology"
)

// Up builds a lab, or changes a running one to match t. It fails without
// changing anything when the file's names clash with objects that nslab
// did not make; when building fails part-way, it removes what it made.
// source is the text t was parsed from, which nslab keeps as the running
// lab's file; nil takes t.Source (what topology.Parse and Load keep).
func Up(ctx context.Context, t *topology.Lab, source []byte, opt Options) error {
	if source == nil {
		source = t.Source
	}
	if len(source) == 0 {
		return fmt.Errorf("lab %s: no source to keep as the running lab's file: make the lab with topology.Parse, topology.Load or topology.NewBuilder, or pass the text it was parsed from", t.Name)
	}
	lk, err := lock(ctx, t.Name, &opt)
	if err != nil {
		return err
	}
	if err := checkHome(t.Name); err != nil {
		lk.unlock()
		return err
	}
	release, err := netnsdir.Hold(StateDir)
	if err != nil {
		lk.done(t.Name)
		return err
	}
	c := kernel.NewConn()
	defer c.Close()
	kind := "lab-up"
	if _, err := os.Stat(topologyFile(t.Name)); err == nil && !removing(t.Name) {
		kind = "lab-changed"
	}
	err = up(ctx, c, t, source, &opt)
	if err == nil {
		note(t.Name, kind, journal.Event{Detail: count(len(t.Nodes), "node") + ", " + count(len(t.Bridges), "bridge") + ", " + count(len(t.Links), "cable")})
	}
	release()
	if errors.Is(err, plan.ErrLabExists) {
		lk.unlock()
	} else {
		lk.done(t.Name)
	}
	return err
}

func up(ctx context.Context, c *kernel.Conn, t *topology.Lab, source []byte, opt *Options) error {
	start := time.Now()
	// What the lab takes of the host is checked and recorded under the
	// host's lock, so that two labs started at once cannot both take it.
	host, err := lockHost(ctx, opt)
	if err != nil {
		return err
	}
	unlockHost := sync.OnceFunc(func() { host.Close() })
	defer unlockHost()
	p, t, running, err := planFor(c, t, source, opt)
	if errors.Is(err, errUnfinished) {
		unlockHost()
		// A down killed part-way was to end the lab's processes anyway.
		if !removing(t.Name) {
			if err := replaceUnfinished(c, t.Name, opt); err != nil {
				return err
			}
		}
		opt.logf("lab %s: its last build, change or removal did not finish; building it anew", t.Name)
		if err := down(c, t.Name, opt); err != nil {
			return err
		}
		return up(ctx, c, t, source, opt)
	}
	if err != nil {
		return err
	}
	opt.timing("plan", p.Len(), time.Since(start))
	if running {
		if err := replaceServices(t, opt); err != nil {
			return err
		}
	}
	if running && p.Empty() {
		opt.logf("lab %s is running and %s", t.Name, servicesChange(t, opt))
		if err := privateLab(t.Name); err != nil {
			return err
		}
		if err := saveTopology(t.Name, source); err != nil {
			return err
		}
		if err := saveAssignments(t); err != nil {
			return err
		}
		if err := saveClaims(t); err != nil {
			return err
		}
		if err := writeNames(t); err != nil {
			return err
		}
		if err := saveNodes(t); err != nil {
			return err
		}
		if err := os.Remove(buildingFile(t.Name)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		os.Remove(prevFile(t.Name))
		// The claims are recorded: the wait for services is no business
		// of the host's lock, which another lab's up may be waiting for.
		unlockHost()
		return servicesUp(ctx, c, t, true, opt)
	}
	if running {
		if err := replaceProcesses(p, opt); err != nil {
			return err
		}
		opt.logf("lab %s is running: changing %s", t.Name, p.Summary())
	}
	// The marker goes first: killed between the two, a lab keeps its old
	// file and the marker, and the next up builds it anew; or, for a
	// change, finishes it from the file kept as it was before (prevFile).
	if err := privateLab(t.Name); err != nil {
		return err
	}
	marker := []byte(nil)
	if running {
		if err := keepPrevious(t.Name); err != nil {
			return err
		}
		marker = []byte(changeMark)
	}
	if err := os.WriteFile(buildingFile(t.Name), marker, 0o600); err != nil {
		return fmt.Errorf("saving lab state: %w", err)
	}
	// Left by a down killed while it removed the lab's state, after the
	// topology: the kernel side was gone, and up builds from scratch.
	if err := os.Remove(removingFile(t.Name)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("saving lab state: %w", err)
	}
	// The holder of the nodes' hostnames is made before any namespace: its
	// mount namespace copies the mount table while nothing is being
	// mounted.
	if err := kernel.EnsureUTSHolder(UTSHolder(t.Name)); err != nil {
		return fmt.Errorf("lab %s: %w", t.Name, err)
	}
	if err := saveTopology(t.Name, source); err != nil {
		return err
	}
	if err := saveShare(t); err != nil {
		return err
	}
	if err := saveAssignments(t); err != nil {
		return err
	}
	if err := saveClaims(t); err != nil {
		return err
	}
	unlockHost()
	err = apply(ctx, c, p, opt, func(m *meter) error {
		start := time.Now()
		defer func() { opt.timing("links up", len(p.Made.Links), time.Since(start)) }()
		return waitReady(ctx, c, p.Made, opt.workers(), m)
	})
	err = locate(t, err)
	switch {
	case err != nil && running:
		return fmt.Errorf("%w\nthe change of lab %s stopped part-way: nslab up %s again finishes it, nslab down %s removes the lab", err, t.Name, t.Name, t.Name)
	case err != nil && opt.KeepFailed:
		return fmt.Errorf("%w\nthe partial lab %s was kept as it is (--keep-failed); nslab down %s removes it", err, t.Name, t.Name)
	case err != nil:
		if derr := down(c, t.Name, opt); derr != nil {
			return fmt.Errorf("%w\nundoing the partial lab also failed: %v", err, derr)
		}
		return fmt.Errorf("%w\nnothing of lab %s was left behind", err, t.Name)
	}
	if err := writeNames(t); err != nil {
		return err
	}
	if err := saveNodes(t); err != nil {
		return err
	}
	if err := pruneFaults(t, p); err != nil {
		return err
	}
	if err := os.Remove(buildingFile(t.Name)); err != nil {
		return err
	}
	os.Remove(prevFile(t.Name))
	return servicesUp(ctx, c, t, running, opt)
}

// servicesChange says what up does to a running lab whose network
// matches the file: nothing, or bring its services in line with it
// (services added, removed, changed, failed or left by a killed
// supervisor).
func servicesChange(t *topology.Lab, opt *Options) string {
	if spec, err := serviceSpec(t, opt); err == nil && service.Unchanged(spec) {
		return "matches the file: nothing to change"
	}
	return "its network matches the file: changing its services"
}

// servicesUp starts the lab's services once its network is built and
// waits until they are ready. When one fails, a lab that was being built
// is removed (unless opt.KeepFailed); a running lab that was being
// changed stays as it is, less the service that failed (its supervisor
// stopped it).
func servicesUp(ctx context.Context, c *kernel.Conn, t *topology.Lab, running bool, opt *Options) error {
	err := upServices(ctx, t, opt)
	switch {
	case err == nil:
		return nil
	case running:
		return fmt.Errorf("%w\nlab %s is running as before, less that service: nslab logs shows its output; nslab up again tries it again", err, t.Name)
	case opt.KeepFailed:
		return fmt.Errorf("%w\nthe lab %s was kept as it is (--keep-failed); nslab down %s removes it", err, t.Name, t.Name)
	}
	if derr := down(c, t.Name, opt); derr != nil {
		return fmt.Errorf("%w\nremoving the lab also failed: %v", err, derr)
	}
	return fmt.Errorf("%w\nnothing of lab %s was left behind", err, t.Name)
}

// errUnfinished says that a lab's objects exist but its last build or
// change did not finish (nslab was killed, say), or that its saved
// topology is missing or unreadable: up then builds it anew.
var errUnfinished = errors.New("lab unfinished")

// removing reports whether a down of the lab began and did not finish.
func removing(name string) bool {
	_, err := os.Stat(removingFile(name))
	return err == nil
}

// planFor plans building t: from scratch, or, when the lab is running,
// the change from the topology it was built from (plan.Reconcile), which
// running says. A running lab's nodes that the saved topology names are
// listed but not inspected one by one, so that a small change to a big
// lab stays small; the other namespaces of the lab's prefix are, and so
// are the nodes the change touches (see inspectTouched). The root
// namespace's side and the lab's nftables table are compared with the
// file always (drift); the nodes too with opt.Repair, and when the last
// change of the lab was interrupted, which the plan then finishes.
func planFor(c *kernel.Conn, t *topology.Lab, source []byte, opt *Options) (p *plan.Plan, now *topology.Lab, running bool, err error) {
	start := time.Now()
	if err := errors.Join(checkMachines(t), checkSysctls(t), checkShapes(t), checkKinds(t), checkServices(t), checkBridgeVLANs(t)); err != nil {
		return nil, t, false, err
	}
	old, changing, err := savedTopology(t.Name)
	if err != nil {
		return nil, t, true, err
	}
	if err := checkMachine(t, old, opt); err != nil {
		return nil, t, old != nil, err
	}
	if old == nil {
		adviseForwarding(t, opt)
	}
	if changing {
		opt.logf("lab %s: its last change did not finish; finishing it", t.Name)
	}
	repair := opt.Repair || changing
	if old != nil && len(t.Assignments()) > 0 && t.ShareOf == nil {
		// Addresses nslab chose stay with their interfaces.
		if t, err = reparse(t, source, savedAssignments(t.Name)); err != nil {
			return nil, t, true, err
		}
	}
	prefix := plan.NetnsName(t.Name, "")
	inspect := func(ns string) bool {
		return strings.HasPrefix(ns, prefix) && (old == nil || old.Node(strings.TrimPrefix(ns, prefix)) == nil)
	}
	st, err := kernel.Observe(c, inspect)
	if err != nil {
		return nil, t, false, err
	}
	st.UTSHolder = UTSHolder(t.Name)
	if err := kernel.ObserveListeners(st, publishedPorts(t)); err != nil {
		return nil, t, false, err
	}
	opt.timing("observe", len(st.Namespaces)+len(st.Links), time.Since(start))
	others, err := otherClaims(t.Name)
	if err != nil {
		return nil, t, false, err
	}
	if err := plan.CheckClaims(t, others); err != nil {
		return nil, t, old != nil, err
	}
	if old != nil {
		start := time.Now()
		if err := observeDrift(c, t.Name, old, t, st, repair, opt); err != nil {
			return nil, t, true, err
		}
		opt.timing("drift", len(st.Nodes), time.Since(start))
		start = time.Now()
		defer func() {
			if p != nil {
				opt.timing("reconcile", p.Len(), time.Since(start))
			}
		}()
		hints := plan.Hints{Faults: readFaults(t.Name)}
		if changing {
			hints.Interrupted, _ = Topology(t.Name)
		}
		p, err = plan.Reconcile(old, t, st, hints)
		if err == nil && inspectTouched(t.Name, p, st) {
			p, err = plan.Reconcile(old, t, st, hints)
		}
		return p, t, true, err
	}
	p, err = plan.Up(t, st)
	if errors.Is(err, plan.ErrLabExists) {
		return nil, t, true, errUnfinished
	}
	return p, t, false, err
}

// reparse parses a lab's file again with the addresses chosen before.
func reparse(t *topology.Lab, source []byte, prior topology.Assignments) (*topology.Lab, error) {
	nt, err := topology.ParseWith(t.File, source, prior)
	if err != nil {
		return nil, err
	}
	nt.Name = t.Name
	return nt, nil
}

// savedTopology reads the topology a running lab was built from: nil if
// there is none, errUnfinished if its last build did not finish or it
// cannot be read. When its last change did not finish (changing), it is
// the topology from before that change.
func savedTopology(name string) (t *topology.Lab, changing bool, err error) {
	data, err := os.ReadFile(topologyFile(name))
	if errors.Is(err, os.ErrNotExist) {
		return nil, false, nil
	}
	if removing(name) {
		return nil, false, errUnfinished
	}
	path := topologyFile(name)
	if mark, serr := os.ReadFile(buildingFile(name)); serr == nil {
		if string(mark) != changeMark {
			return nil, false, errUnfinished
		}
		path, changing = prevFile(name), true
		data, err = os.ReadFile(path)
	}
	if err != nil {
		return nil, false, errUnfinished
	}
	old, err := parseSaved(name, path, data)
	if err != nil {
		return nil, false, errUnfinished
	}
	return old, changing, nil
}

// Plan is what Up would do to the machine as it is now: build t from
// scratch or, when the lab is running, change it (running). It changes
// nothing.
func Plan(t *topology.Lab, source []byte) (p *plan.Plan, running bool, err error) {
	c := kernel.NewConn()
	defer c.Close()
	p, _, running, err = planFor(c, t, source, &Options{})
	lossByNft(p)
	if errors.Is(err, errUnfinished) {
		return nil, true, fmt.Errorf("lab %s is running, but its last build or change did not finish: up would remove it and build it anew", t.Name)
	}
	return p, running, err
}

// Down removes every object marked as the lab's and ends the processes
// running in its nodes. A lab that does not exist is no error.
func Down(ctx context.Context, name string, opt Options) error {
	if err := awaitShareBuild(ctx, name); err != nil {
		return err
	}
	lk, err := lock(ctx, name, &opt)
	if err != nil {
		return err
	}
	if err := checkHome(name); err != nil {
		lk.unlock()
		return err
	}
	c := kernel.NewConn()
	defer c.Close()
	if err := down(c, name, &opt); err != nil {
		lk.unlock()
		return err
	}
	lk.remove()
	return nil
}

// Exists reports whether the lab has state or a namespace left: whether
// it runs, or a killed nslab left some of it.
func Exists(name string) bool {
	if _, err := os.Stat(labDir(name)); err == nil {
		return true
	}
	entries, _ := os.ReadDir(kernel.NetnsDir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), plan.NetnsName(name, "")) {
			return true
		}
	}
	return false
}

// observe reads the machine, inspecting the namespaces of one lab.
func observe(c *kernel.Conn, name string) (*kernel.State, error) {
	prefix := plan.NetnsName(name, "")
	st, err := kernel.Observe(c, func(ns string) bool { return strings.HasPrefix(ns, prefix) })
	if err == nil {
		st.UTSHolder = UTSHolder(name)
		st.NoUTSHolder = !kernel.HasUTSHolder(st.UTSHolder)
	}
	return st, err
}

// labNamespaces lists the namespaces marked as the lab's.
func labNamespaces(name string, st *kernel.State) []string {
	var out []string
	for ns, mark := range st.Namespaces {
		if l, _, _, ok := kernel.ParseMarker(mark); ok && l == name {
			out = append(out, ns)
		}
	}
	return out
}

// Cut cuts the cable of interface iface of node node in a running lab
// (up false), as when it is pulled out at its far end, or joins it again
// (up true): see plan.Cut. The lab's file is not changed: a cut cable
// stays cut until it is joined again or made anew.
func Cut(ctx context.Context, name, node, iface string, up bool, opt Options) error {
	var port *topology.Link
	err := change(ctx, name, opt, func(t *topology.Lab) (*plan.Plan, error) {
		p, err := plan.Cut(t, node, iface, up)
		if err == nil && up && p.Made != nil && len(p.Made.Links) == 1 && p.Made.Links[0].Kind == topology.Port {
			port = p.Made.Links[0]
		}
		return p, err
	}, func(f *plan.Faults) { f.SetCut(node, iface, up) })
	if err != nil {
		return err
	}
	note(name, map[bool]string{false: "cut", true: "join"}[up], journal.Event{Node: node, Iface: iface})
	if port == nil {
		return nil
	}
	// A bridge whose last port was cut lost its carrier, and the kernel
	// took its queueing discipline away; with the port back it sends
	// again only once the kernel's linkwatch has been by (up to a second
	// later), which also sets its operational state: wait for that, so
	// that what the host side sends at once is not dropped.
	c := kernel.NewConn()
	defer c.Close()
	wctx, cancel := context.WithTimeout(ctx, readyTimeout(1))
	defer cancel()
	wctx, _, stop := stallContext(wctx, readyStall)
	defer stop()
	return c.WaitUp(wctx, "", []string{plan.BridgeName(name, port.Bridge.Name)})
}

// Partition splits a running lab into groups of nodes that do not reach
// each other, or heals it with no groups: see plan.Partition. The lab's
// file is not changed.
func Partition(ctx context.Context, name string, groups [][]string, opt Options) error {
	err := changeFilters(ctx, name, opt, func(f *plan.Faults) { f.Partition = groups })
	if err == nil {
		if len(groups) == 0 {
			note(name, "partition-healed", journal.Event{})
		} else {
			note(name, "partition", journal.Event{Detail: noteGroups(groups)})
		}
	}
	return err
}

// Block drops what some nodes of a running lab send to others, one way
// (see plan.Block), besides the partition and blocks in force; a block
// between the same nodes the same way is replaced. The lab's file is not
// changed; Heal takes it away.
func Block(ctx context.Context, name string, b plan.Block, opt Options) error {
	err := changeFilters(ctx, name, opt, func(f *plan.Faults) { f.AddBlock(b) })
	if err == nil {
		note(name, "block", journal.Event{Detail: b.String()})
	}
	return err
}

// changeFilters changes the record's partition or blocks and writes the
// nodes' filters of the record so changed (plan.Filters).
func changeFilters(ctx context.Context, name string, opt Options, record func(*plan.Faults)) error {
	return change(ctx, name, opt, func(t *topology.Lab) (*plan.Plan, error) {
		f := readFaults(name)
		record(f)
		return filtersPlan(t, f.Partition, f.Blocks)
	}, record)
}

// Heal reverts every fault in force in a running lab, as its record
// has them: cut cables are joined again, the partition and the blocks go,
// and the record of a schedule or flap (one killed before it could revert
// what it did) is forgotten. It reports whether there was anything to
// revert; with nothing it changes nothing. Cables shaped at runtime get
// the file's shaping back.
func Heal(ctx context.Context, name string, opt Options) (healed bool, err error) {
	return heal(ctx, name, opt, false)
}

// heal is Heal; keepRunner keeps this process's own record as the
// lab's runner (a heal step of a schedule). Another runner's record is
// kept while it lives: it is still running.
func heal(ctx context.Context, name string, opt Options, keepRunner bool) (healed bool, err error) {
	f := readFaults(name)
	for _, ref := range f.Cuts {
		node, iface, _ := strings.Cut(ref, ":")
		if err := Cut(ctx, name, node, iface, true, opt); err != nil {
			return healed, err
		}
		healed = true
	}
	for _, r := range f.Shapes {
		if err := unshape(ctx, name, r.Iface, opt); err != nil {
			return healed, err
		}
		healed = true
	}
	err = change(ctx, name, opt, func(t *topology.Lab) (*plan.Plan, error) {
		var spaces []string
		for _, n := range t.Nodes {
			spaces = append(spaces, plan.NetnsName(name, n.Name))
		}
		parted, err := kernel.Partitioned(spaces)
		if err != nil || len(parted) == 0 {
			return &plan.Plan{Lab: name}, err
		}
		healed = true
		return plan.Partition(t, nil)
	}, func(f *plan.Faults) {
		healed = healed || len(f.Blocks) > 0 || len(f.Partition) > 0
		f.Partition, f.Blocks = nil, nil
		if r := f.Runner; r != nil && (!alive(r.PID) || r.PID == os.Getpid() && !keepRunner) {
			healed, f.Runner = true, nil
		}
	})
	if err == nil && healed {
		note(name, "heal", journal.Event{}) // a schedule's heal steps too
	}
	return healed, err
}

// change applies to a running lab, under its lock, what planFn plans
// from the topology it was built from. When the plan makes links come
// up (Made), apply waits for them before the routes, or at its end.
// record changes the record of faults in force, which is rewritten
// before the change: killed part-way, a repair completes it.
func change(ctx context.Context, name string, opt Options, planFn func(*topology.Lab) (*plan.Plan, error), record func(*plan.Faults)) error {
	lk, err := lock(ctx, name, &opt)
	if err != nil {
		return err
	}
	defer lk.unlock()
	t, err := Topology(name)
	if err != nil {
		return err
	}
	p, err := planFn(t)
	if err != nil {
		return err
	}
	f := readFaults(name)
	record(f)
	if err := writeFaults(name, f); err != nil {
		return err
	}
	c := kernel.NewConn()
	defer c.Close()
	var ready func(*meter) error
	if p.Made != nil {
		ready = func(m *meter) error { return waitReady(ctx, c, p.Made, opt.workers(), m) }
	}
	return apply(ctx, c, p, &opt, ready)
}
