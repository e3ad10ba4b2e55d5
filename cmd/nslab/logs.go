package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/nslab/nslab/fleet"
	"github.com/nslab/nslab/internal/logtail"
	"github.com/nslab/nslab/internal/natsort"
	"github.com/nslab/nslab/lab"
	"github.com/nslab/nslab/plan"
	"github.com/nslab/nslab/service"
	"github.com/spf13/cobra"
)

func newLogs() *cobra.Command {
	cmd := &cobra.Command{
		Use:         "logs [-f] [-n LINES] NODE[/SERVICE]",
		Annotations: privileged(),
		Short:       "Show the output of a node's services",
		Long: `Show what a service printed (its standard output and error, which go to a
log file per service under the lab's state directory, capped in size: the
older part is kept in LOG.1 and read too). Without /SERVICE, every service
of the node, each line prefixed with its service's name.

-f follows the log as it grows, across its rotations, until Ctrl-C or the
lab's down. NODE is NODE or LAB.NODE, as exec takes it.`,
		Example: `  sudo nslab logs e1/etcd              # all of etcd's log in node e1
  sudo nslab logs -n 20 etcd.e1/etcd     # its last 20 lines, lab etcd named
  sudo nslab logs -f e1                  # follow every service of e1`,
		Args:              args(cobra.ExactArgs(1)),
		ValidArgsFunction: completeServices,
	}
	follow := cmd.Flags().BoolP("follow", "f", false, "follow the log as it grows, until Ctrl-C")
	lines := cmd.Flags().IntP("lines", "n", -1, "show the last LINES lines of each log (-1: all of it)")
	cmd.RunE = func(cmd *cobra.Command, a []string) error {
		if done, err := remoteLogs(cmd, a[0], *follow, *lines); done {
			return err
		}
		node, svcs, err := logTargets(a[0])
		if err != nil {
			return err
		}
		prefix := ""
		if !strings.Contains(a[0], "/") {
			prefix = "%-*s | "
		}
		w := &lineWriter{w: bufio.NewWriter(cmd.OutOrStdout()), width: width(svcs), format: prefix}
		if !*follow {
			for _, s := range svcs {
				ls, err := logtail.Last(service.LogPath(node.Lab, node.Name, s), *lines)
				if err != nil {
					return fmt.Errorf("%s/%s: reading its log: %w", node.Netns(), s, err)
				}
				for _, l := range ls {
					w.line(s, l)
				}
			}
			return w.w.Flush()
		}
		return followLogs(cmd.Context(), node, svcs, *lines, w)
	}
	return cmd
}

// logTargets resolves NODE[/SERVICE] to the node and the services whose
// logs to show.
func logTargets(ref string) (lab.Node, []string, error) {
	nodeRef, svc, one := strings.Cut(ref, "/")
	if nodeRef == "" || one && svc == "" {
		return lab.Node{}, nil, &usageError{fmt.Errorf("logs %s: give NODE or NODE/SERVICE", ref)}
	}
	node, err := lab.FindNode(nodeRef)
	if err != nil {
		return lab.Node{}, nil, err
	}
	known := nodeServices(node)
	if one {
		if !slices.Contains(known, svc) {
			return lab.Node{}, nil, fmt.Errorf("node %s has no service %s (%s)", node.Netns(), svc, serviceList(known))
		}
		return node, []string{svc}, nil
	}
	if len(known) == 0 {
		return lab.Node{}, nil, fmt.Errorf("node %s runs no services (a node's services: key in the topology file)", node.Netns())
	}
	return node, known, nil
}

func serviceList(s []string) string {
	if len(s) == 0 {
		return "it runs none"
	}
	return "its services: " + strings.Join(s, ", ")
}

// nodeServices lists the services of a node: those of its lab's file,
// and those that left a log (a service removed from the file by up, whose
// log remains until down).
func nodeServices(n lab.Node) []string {
	var out []string
	if t, err := lab.Topology(n.Lab); err == nil {
		if tn := t.Node(n.Name); tn != nil {
			for _, s := range tn.Services {
				out = append(out, s.Name)
			}
		}
	}
	if st, err := service.Read(n.Lab); err == nil {
		for _, s := range st.Services {
			if s.Node == n.Name {
				out = append(out, s.Name)
			}
		}
	}
	if p := service.LogPath(n.Lab, n.Name, "x"); p != "" {
		logs, _ := filepath.Glob(filepath.Join(filepath.Dir(p), "*.log"))
		for _, l := range logs {
			out = append(out, strings.TrimSuffix(filepath.Base(l), ".log"))
		}
	}
	slices.SortFunc(out, natsort.Compare)
	return slices.Compact(out)
}

func width(svcs []string) int {
	w := 0
	for _, s := range svcs {
		w = max(w, len(s))
	}
	return w
}

// lineWriter writes whole lines, prefixed with their service when the
// format says, from any number of followers.
type lineWriter struct {
	mu     sync.Mutex
	w      *bufio.Writer
	width  int
	format string
	err    error
}

func (lw *lineWriter) line(svc, l string) {
	lw.mu.Lock()
	defer lw.mu.Unlock()
	if lw.format != "" {
		fmt.Fprintf(lw.w, lw.format, lw.width, svc)
	}
	lw.w.WriteString(l)
	if err := lw.w.WriteByte('\n'); err != nil && lw.err == nil {
		lw.err = err
	}
}

// flushNow writes out what is buffered.
func (lw *lineWriter) flushNow() error {
	lw.mu.Lock()
	defer lw.mu.Unlock()
	if err := lw.w.Flush(); err != nil && lw.err == nil {
		lw.err = err
	}
	return lw.err
}

// followLogs follows the services' logs until ctx ends (Ctrl-C) or the
// lab is taken down, or stdout is closed.
func followLogs(ctx context.Context, node lab.Node, svcs []string, n int, w *lineWriter) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// Lines are written out ten times a second, not one by one: a log
	// of millions of lines is read in a moment.
	go func() {
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for i := 1; ; i++ {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if w.flushNow() != nil {
					cancel() // stdout is gone
				}
				if i%20 == 0 && !labRunning(node.Lab) {
					time.Sleep(time.Second) // the followers read what the last looks find
					cancel()                // down, even of a log never written
				}
			}
		}
	}()
	var wg sync.WaitGroup
	errs := make([]error, len(svcs))
	for i, s := range svcs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := logtail.New(service.LogPath(node.Lab, node.Name, s)).Follow(ctx, n, func(l string) { w.line(s, l) })
			if errors.Is(err, logtail.ErrRemoved) {
				err = nil
				if !labRunning(node.Lab) {
					cancel() // down: every log goes
				}
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	if err := w.flushNow(); err != nil {
		if errors.Is(err, syscall.EPIPE) {
			return nil // the reader is gone, as with head
		}
		return err
	}
	return errors.Join(errs...)
}

// labRunning reports whether the lab's state is still there.
func labRunning(name string) bool {
	_, err := os.Stat(filepath.Join(lab.StateDir, name))
	return err == nil
}

// completeServices offers LAB.NODE and LAB.NODE/SERVICE of the running
// labs.
func completeServices(_ *cobra.Command, a []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	if len(a) > 0 {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	var out []string
	for l, t := range runningLabs() {
		for _, n := range t.Nodes {
			if len(n.Services) == 0 {
				continue
			}
			out = append(out, plan.NetnsName(l, n.Name))
			for _, s := range n.Services {
				out = append(out, plan.NetnsName(l, n.Name)+"/"+s.Name)
			}
		}
	}
	return matching(out, toComplete), cobra.ShellCompDirectiveNoFileComp
}

// remoteLogs shows the logs of a node of a lab across machines that runs
// on another host, by nslab logs there over ssh; done is false when the
// node is not such a node.
func remoteLogs(cmd *cobra.Command, ref string, follow bool, lines int) (done bool, err error) {
	nodeRef, svc, one := strings.Cut(ref, "/")
	if _, err := lab.FindNode(nodeRef); err == nil || nodeRef == "" {
		return false, nil
	}
	labName, node, hr, ok, err := fleet.FindNode(nodeRef)
	if err != nil {
		return true, err
	}
	if !ok {
		return false, nil
	}
	args := []string{"logs", "-n", strconv.Itoa(lines)}
	if follow {
		args = append(args, "-f")
	}
	target := labName + "." + node
	if one {
		target += "/" + svc
	}
	code, err := fleet.Run(cmd.Context(), labName, hr, append(args, target), fleetOptions(lab.Options{}))
	if err == nil && code != 0 {
		err = &exitError{code}
	}
	return true, err
}
