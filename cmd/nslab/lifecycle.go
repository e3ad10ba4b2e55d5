package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/nslab/nslab/fleet"
	"github.com/nslab/nslab/lab"
	"github.com/nslab/nslab/topology"
	"github.com/spf13/cobra"
)

// loadFile reads and validates a topology file ("-": standard input) until
// ctx is done; name, when set, renames the lab.
func loadFile(ctx context.Context, path, name string) (*topology.Lab, []byte, error) {
	data, err := topology.ReadFileContext(ctx, path)
	if err != nil {
		return nil, nil, err
	}
	shown := path
	if path == topology.Stdin {
		shown = "<stdin>"
	}
	t, err := topology.Parse(shown, data)
	if err != nil {
		return nil, nil, err
	}
	if name != "" {
		if err := topology.ValidLabName(name); err != nil {
			return nil, nil, &usageError{fmt.Errorf("--lab: %w", err)}
		}
		t.Name = name
	}
	return t, data, nil
}

func summary(t *topology.Lab) string {
	s := plural(len(t.Nodes), "node") + ", " + plural(len(t.Bridges), "bridge") + ", " + plural(len(t.Links), "link")
	services := 0
	for _, n := range t.Nodes {
		services += len(n.Services)
	}
	if services > 0 {
		s += ", " + plural(services, "service")
	}
	return s
}

// printPlacement says, for a lab across machines, how many nodes each
// host gets and which segments cross between hosts.
func printPlacement(w io.Writer, t *topology.Lab) {
	pl := topology.Place(t)
	on := map[string][]string{}
	for _, n := range t.Nodes {
		on[pl[n.Name]] = append(on[pl[n.Name]], n.Name)
	}
	for _, m := range t.Machines {
		names := ""
		if len(on[m.Name]) > 0 && len(on[m.Name]) <= 12 {
			names = ": " + strings.Join(on[m.Name], " ")
		}
		fmt.Fprintf(w, "  host %s (%s, %s): %s%s\n", m.Name, m.Where(), m.Address, plural(len(on[m.Name]), "node"), names)
	}
	x := topology.Crossings(t, pl)
	fmt.Fprintf(w, "  %s between hosts (VXLAN)\n", plural(len(x), "segment"))
	for i, c := range x {
		if i == 20 {
			fmt.Fprintf(w, "    ... %d more\n", len(x)-i)
			break
		}
		fmt.Fprintf(w, "    %s: %s\n", c.Segment, strings.Join(c.Machines, ", "))
	}
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}

func newUp() *cobra.Command {
	var name string
	var quiet, timings, keep, force, replace, repair bool
	cmd := &cobra.Command{
		Use:         "up FILE",
		Annotations: privileged(),
		Short:       "Build the lab a topology file describes",
		Long: `Build the lab a topology file describes: its namespaces, bridges, veth
pairs, addresses, routes and sysctls. When up returns, every address is
usable (IPv6 too: duplicate address detection is off in lab nodes).

On a lab that is running, up compares the file with the lab and changes
only what differs: nodes, cables, bridges, addresses, routes and sysctls
are added, changed or removed, and nodes the change does not touch keep
their namespace and their processes (nslab plan FILE shows the change).
A change that removes or makes anew nodes that run processes (a node
gone from the file, another file under the lab's name) ends those
processes, and one that drops services the lab runs stops them: up
refuses both, naming them, unless --replace is given.

What was changed by hand is put back (drift): up compares the lab's side
in the host (bridges, host interfaces, the lab's nftables table) always;
with --repair it inspects every node too (addresses, routes of nslab's
protocol 78, sysctls nslab set, links' state, MTU and MAC). What nslab did
not make stays, and cut cables and partitions in force stay as they are.

A name that the lab needs but that something else holds (a namespace of
ip netns add, a bridge made by hand) stops up before it changes anything.
If building fails part-way, up removes what it made; if nslab was killed
while building a lab, the next up builds it anew; killed while changing
a running lab, the next up finishes the change (with --repair's checks)
and nodes the change did not touch keep their namespace and processes.

Before changing anything, up estimates the kernel memory, namespaces,
mounts and open files the lab needs and refuses, with the numbers, a lab
this machine cannot hold (--force tries anyway).`,
		Example: `  sudo nslab up examples/seed.yaml
  sudo nslab up --lab seed2 examples/seed.yaml   # a second copy beside the first
  sudo nslab up --repair examples/seed.yaml      # put back what was changed by hand`,
		Args: args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, a []string) error {
			t, data, err := loadFile(cmd.Context(), a[0], name)
			if err != nil {
				return err
			}
			start := time.Now()
			bar := newProgress(quiet)
			opt := lab.Options{Logf: quietLogf(quiet), Timings: timings, Progress: bar.update, KeepFailed: keep, Force: force, Replace: replace, Repair: repair}
			if t.MultiHost() {
				err = fleet.Up(cmd.Context(), t, fleetOptions(opt))
			} else {
				err = lab.Up(cmd.Context(), t, data, opt)
			}
			bar.done()
			if err != nil {
				return err
			}
			if !quiet {
				fmt.Fprintf(cmd.OutOrStdout(), "lab %s is up: %s in %s\n", t.Name, summary(t), since(start))
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&name, "lab", "", "name the lab NAME instead of the file's name")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "print nothing but errors")
	cmd.Flags().BoolVar(&timings, "timings", false, "print how long each stage took (to stderr)")
	cmd.Flags().BoolVar(&replace, "replace", false, "change a running lab even when that removes or remakes nodes that run processes, ending them")
	cmd.Flags().BoolVar(&repair, "repair", false, "on a running lab, inspect every node too and put back what differs from the file")
	cmd.Flags().BoolVar(&keep, "keep-failed", false, "leave a lab that failed to build, or whose services did not become ready, in place to inspect it (nslab down removes it)")
	cmd.Flags().BoolVar(&force, "force", false, "build even when the estimate says the machine cannot hold the lab (kernel memory, namespaces, mounts, open files)")
	return cmd
}

// quietLogf is where a command's messages go: nowhere with -q, which
// leaves only errors.
func quietLogf(quiet bool) func(string, ...any) {
	if quiet {
		return nil
	}
	return logf
}

func since(t time.Time) time.Duration { return time.Since(t).Round(100 * time.Microsecond) }

func newDown() *cobra.Command {
	var name string
	var quiet, timings, all bool
	var forgetHosts []string
	cmd := &cobra.Command{
		Use:         "down [FILE | LAB | --all]",
		Annotations: privileged(),
		Short:       "Remove a lab and end the processes running in it",
		Long: `Remove everything nslab made for a lab: its namespaces, bridges and cables,
and end the processes running in its nodes. Objects that nslab did not make
are never touched. Removing a lab that is not running is no error.

What an nslab killed part-way (kill -9, a crash) left goes too: links
made but not yet marked, which down recognises by the lab's link group and
a kernel name of the lab's saved topology, and empty /run/netns entries
of the lab's nodes.

--all removes every lab on this machine, orphans of crashed runs
included, found by the marks nslab puts on what it makes; it prints what it
removed per lab.

A lab across machines is removed from every host it was sent to. A host
that cannot be reached keeps its share: down names it with the nodes it
holds, exits 1 and keeps the lab's record, so that the next down tries
that host again. --forget HOST drops a host that is gone for good from
the record without trying it (what it holds stays there).`,
		Example: `  sudo nslab down examples/seed.yaml
  sudo nslab down seed
  sudo nslab down --lab seed
  sudo nslab down --all
  sudo nslab down --forget h3 across   # host h3 of lab across is gone for good`,
		Args:              args(cobra.MaximumNArgs(1)),
		ValidArgsFunction: completeDown,
		RunE: func(cmd *cobra.Command, a []string) error {
			if all {
				if name != "" || len(a) > 0 {
					return &usageError{errors.New("down --all takes no lab: it removes every lab")}
				}
				return downAll(cmd, quiet, timings)
			}
			target, err := downTarget(cmd.Context(), name, a)
			if err != nil {
				return err
			}
			start := time.Now()
			existed := lab.Exists(target) || fleet.Exists(target)
			bar := newProgress(quiet)
			opt := lab.Options{Logf: quietLogf(quiet), Timings: timings, Progress: bar.update}
			if fleet.Exists(target) {
				fo := fleetOptions(opt)
				fo.Forget = forgetHosts
				err = fleet.Down(cmd.Context(), target, fo)
			} else if len(forgetHosts) > 0 {
				return &usageError{fmt.Errorf("down --forget is for a lab across machines brought up from here; %s is not one", target)}
			} else {
				err = lab.Down(cmd.Context(), target, opt)
			}
			bar.done()
			if err != nil {
				return err
			}
			if !existed && !quiet {
				fmt.Fprintf(cmd.OutOrStdout(), "lab %s was not running: nothing to remove\n", target)
			} else if !quiet {
				fmt.Fprintf(cmd.OutOrStdout(), "lab %s is down in %s\n", target, since(start))
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&name, "lab", "", "the name of the lab to remove")
	cmd.Flags().BoolVar(&all, "all", false, "remove every lab on this machine, and what crashed runs left")
	cmd.Flags().StringSliceVar(&forgetHosts, "forget", nil, "a lab across machines: do not try to reach HOST (gone for good); drop it from the lab's record, saying what it may still hold")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "print nothing but errors")
	cmd.Flags().BoolVar(&timings, "timings", false, "print how long each stage took (to stderr)")
	return cmd
}

// downAll runs down --all: one line per lab found.
func downAll(cmd *cobra.Command, quiet, timings bool) error {
	start := time.Now()
	removed, err := lab.DownAll(cmd.Context(), lab.Options{Logf: quietLogf(quiet), Timings: timings})
	out := cmd.OutOrStdout()
	for _, r := range removed {
		switch {
		case r.Err != nil:
			fmt.Fprintf(out, "lab %s: %v\n", r.Lab, r.Err)
		case !quiet:
			fmt.Fprintf(out, "lab %s is down: removed %s\n", r.Lab, r)
		}
	}
	if err != nil {
		return err
	}
	if !quiet {
		fmt.Fprintf(out, "%s down in %s\n", plural(len(removed), "lab"), since(start))
	}
	return nil
}

// downTarget picks the lab to remove: --lab, a topology file, or a lab
// name.
func downTarget(ctx context.Context, name string, a []string) (string, error) {
	switch {
	case name != "" && len(a) == 1:
		t, _, err := loadFile(ctx, a[0], name)
		if err != nil {
			return "", err
		}
		return t.Name, nil
	case name != "":
		return name, topology.ValidLabName(name)
	case len(a) == 0:
		return "", &usageError{errors.New("down needs a topology file, a lab name or --lab NAME")}
	}
	if _, err := os.Stat(a[0]); err == nil {
		t, _, err := loadFile(ctx, a[0], "")
		if err != nil {
			return "", err
		}
		return t.Name, nil
	}
	if topology.ValidLabName(a[0]) != nil {
		return "", fmt.Errorf("%s: no such file, and not a lab name", a[0])
	}
	return a[0], nil
}

func newValidate() *cobra.Command {
	return &cobra.Command{
		Use:   "validate FILE...",
		Short: "Check topology files without touching the kernel",
		Long: `Check topology files: YAML syntax, types, unknown keys, names, links,
addresses and routes. Every problem is reported as file:line:col with what
to do about it. Nothing on the machine is read or changed.`,
		Example: `  nslab validate examples/*.yaml`,
		Args:    args(cobra.MinimumNArgs(1)),
		RunE: func(cmd *cobra.Command, a []string) error {
			var errs []error
			for _, f := range a {
				t, _, err := loadFile(cmd.Context(), f, "")
				if err != nil {
					errs = append(errs, err)
					continue
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s: valid: lab %s, %s\n", f, t.Name, summary(t))
				if t.MultiHost() {
					printPlacement(cmd.OutOrStdout(), t)
				}
			}
			return errors.Join(errs...)
		},
	}
}

func newPlan() *cobra.Command {
	var name string
	var full bool
	cmd := &cobra.Command{
		Use:   "plan FILE",
		Short: "Print the ip commands that up would run, changing nothing",
		Long: `Print what up would do, as the equivalent ip commands, one stage after the
other; commands within a stage are independent. For a lab that is running,
that is the difference between the running lab and the file: only what
changed; --full prints the whole lab instead, every command that builds
it, as on a machine without it. Names that clash with objects on this
machine are reported as up would report them. Nothing is changed. Without
root, plan cannot look into namespaces and plans as --full does.`,
		Example: `  nslab plan examples/seed.yaml
  sudo nslab plan --full examples/seed.yaml   # the whole lab, even while it runs`,
		Args: args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, a []string) error {
			t, data, err := loadFile(cmd.Context(), a[0], name)
			if err != nil {
				return err
			}
			if full || !privileges() {
				if !full {
					fmt.Fprintf(cmd.ErrOrStderr(), "nslab: plan: without root (or CAP_NET_ADMIN, CAP_SYS_ADMIN and CAP_DAC_OVERRIDE), plan cannot look into lab %s, running or not: this is the whole lab, as --full prints it; as root, plan prints only what up would change in a running lab\n", t.Name)
				}
				p, err := lab.FullPlan(t, data)
				if err != nil {
					return err
				}
				return p.WriteScript(cmd.OutOrStdout())
			}
			p, running, err := lab.Plan(t, data)
			if err != nil {
				return err
			}
			if running {
				fmt.Fprintf(cmd.OutOrStdout(), "# lab %s is running: the change from the file it was built from\n", t.Name)
				if p.Empty() {
					fmt.Fprintln(cmd.OutOrStdout(), "# nothing to change")
				}
			}
			return p.WriteScript(cmd.OutOrStdout())
		},
	}
	cmd.Flags().StringVar(&name, "lab", "", "plan the lab under the name NAME")
	cmd.Flags().BoolVar(&full, "full", false, "print every command that builds the lab, as on a machine without it, even when it runs")
	return cmd
}
