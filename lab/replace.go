package lab

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/nslab/nslab/kernel"
	"github.com/nslab/nslab/plan"
	"github.com/nslab/nslab/service"
	"github.com/nslab/nslab/topology"
)

// ReplaceError is the error of Up when a change of a running lab would
// remove or remake nodes that run processes and Options.Replace is not
// set. Nothing was changed.
type ReplaceError struct {
	Lab string
	// Why says what removes the nodes.
	Why string
	// Nodes are the nodes removed or made anew that run processes.
	Nodes []string
	// Processes are the processes that the change would end.
	Processes []kernel.Process
	// Services, when set, are the services (NODE/SERVICE) that the file
	// no longer has, in nodes it keeps: the change would stop them.
	Services []string
}

func (e *ReplaceError) Error() string {
	var lines []string
	for _, pr := range e.Processes {
		if len(lines) == 10 {
			lines = append(lines, fmt.Sprintf("  and %d more (nslab ps %s lists them)", len(e.Processes)-10, e.Lab))
			break
		}
		_, node, _ := plan.SplitNetnsName(pr.Netns)
		lines = append(lines, fmt.Sprintf("  %s: pid %d %s", node, pr.PID, strings.Join(pr.Args, " ")))
	}
	if len(e.Services) > 0 {
		what := "service"
		if len(e.Services) > 1 {
			what = "services"
		}
		return fmt.Sprintf("lab %s is running, and %s %s %s, which the change would stop:\n%s\n"+
			"nothing was changed: nslab up --replace stops them and changes the lab; if the file is another lab's, give it a name of its own with --lab",
			e.Lab, e.Why, what, strings.Join(e.Services, ", "), strings.Join(lines, "\n"))
	}
	what := "node"
	if len(e.Nodes) > 1 {
		what = "nodes"
	}
	return fmt.Sprintf("lab %s is running, and %s %s %s, which would end %s:\n%s\n"+
		"nothing was changed: nslab up --replace ends them and changes the lab (nslab plan shows the change)",
		e.Lab, e.Why, what, strings.Join(e.Nodes, ", "), count(len(e.Processes), "process"), strings.Join(lines, "\n"))
}

// deletedNamespaces lists the namespaces that a plan deletes: nodes that
// the file no longer has, and nodes that it makes anew.
func deletedNamespaces(p *plan.Plan) []string {
	var out []string
	for _, s := range p.Stages {
		for _, op := range s.Ops {
			if d, ok := op.(*kernel.NetnsDel); ok {
				out = append(out, d.Name)
			}
		}
	}
	return out
}

// replaceProcesses stops a change of a running lab that would remove or
// remake nodes that run processes, naming them, unless opt.Replace says
// to go on: then it ends those processes first, as down does. A change
// that keeps every node that runs processes goes on as it is.
func replaceProcesses(p *plan.Plan, opt *Options) error {
	return replaceIn(p.Lab, "the file removes or makes anew", deletedNamespaces(p), opt)
}

// replaceIn is replaceProcesses for the namespaces spaces of lab name.
func replaceIn(name, why string, spaces []string, opt *Options) error {
	if len(spaces) == 0 {
		return nil
	}
	procs, err := kernel.ProcessesIn(spaces)
	if err != nil || len(procs) == 0 {
		return err
	}
	var nodes []string
	for _, pr := range procs {
		if _, node, _ := plan.SplitNetnsName(pr.Netns); !slices.Contains(nodes, node) {
			nodes = append(nodes, node)
		}
	}
	if !opt.Replace {
		return &ReplaceError{Lab: name, Why: why, Nodes: nodes, Processes: procs}
	}
	if err := stopServicesIn(context.Background(), name, spaces); err != nil {
		return fmt.Errorf("stopping services of lab %s in %s: %w", name, strings.Join(nodes, ", "), err)
	}
	n, err := kernel.KillIn(spaces, 2*time.Second)
	if err != nil {
		return fmt.Errorf("ending processes of lab %s in %s: %w", name, strings.Join(nodes, ", "), err)
	}
	opt.logf("lab %s: ended %s in %s (--replace)", name, count(n, "process"), strings.Join(nodes, ", "))
	return nil
}

// replaceUnfinished is replaceProcesses for a lab that up builds anew
// because its last build or change did not finish: every node goes.
func replaceUnfinished(c *kernel.Conn, name string, opt *Options) error {
	st, err := observe(c, name)
	if err != nil {
		return err
	}
	spaces := labNamespaces(name, st)
	slices.Sort(spaces)
	return replaceIn(name, "its last build or change did not finish, so up would make anew", spaces, opt)
}

// droppedServices lists the lab's services that run (or start) in nodes
// that t keeps but that t no longer has: a change to t would stop them.
// Services of nodes that t removes end with their nodes (replaceProcesses).
func droppedServices(t *topology.Lab) ([]service.ServiceState, error) {
	st, err := service.Read(t.Name)
	if err != nil {
		// The services' state is a hint of the supervisor's: unreadable,
		// it names nothing to guard, and must not stop every up.
		return nil, nil
	}
	var out []service.ServiceState
	for _, s := range st.Services {
		if s.PID <= 0 || s.State != service.Running && s.State != service.Starting {
			continue
		}
		n := t.Node(s.Node)
		if n == nil || slices.ContainsFunc(n.Services, func(d *topology.Service) bool { return d.Name == s.Name }) {
			continue
		}
		out = append(out, s)
	}
	return out, nil
}

// replaceServices stops a change of a running lab that would stop
// services the file no longer has (up of another file under the lab's
// name, say), naming them, unless opt.Replace says to go on: the
// supervisor then stops them as the change is applied.
func replaceServices(t *topology.Lab, opt *Options) error {
	gone, err := droppedServices(t)
	if err != nil || len(gone) == 0 || opt.Replace {
		return err
	}
	e := &ReplaceError{Lab: t.Name, Why: "the file no longer has"}
	for _, s := range gone {
		e.Services = append(e.Services, s.Node+"/"+s.Name)
		if !slices.Contains(e.Nodes, s.Node) {
			e.Nodes = append(e.Nodes, s.Node)
		}
		e.Processes = append(e.Processes, kernel.Process{PID: s.PID, Netns: plan.NetnsName(t.Name, s.Node), Args: serviceArgs(s.PID)})
	}
	return e
}

// serviceArgs is the command line of a running process, for a message.
func serviceArgs(pid int) []string {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil || len(data) == 0 {
		return []string{"(ended)"}
	}
	return strings.Split(strings.TrimRight(string(data), "\x00"), "\x00")
}
