package lab

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/nslab/nslab/kernel"
	"github.com/nslab/nslab/plan"
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
