package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/nslab/nslab/check"
	"github.com/nslab/nslab/examples"
	"github.com/nslab/nslab/fleet"
	"github.com/nslab/nslab/lab"
	"github.com/nslab/nslab/topology"
	"github.com/spf13/cobra"
)

func newCheck() *cobra.Command {
	cmd := &cobra.Command{
		Use:         "check [LAB]",
		Annotations: privileged(),
		Short:       "Ping every reachable address from every node and print the matrix",
		Long: `Probe a running lab with a built-in ICMP prober (no ping binary needed):
every node pings every address on its own segments and, where routes lead
there and back, beyond them; the host pings the addresses on the segments
it is attached to. Pairs that the topology does not connect are shown as
"-" and are not probed; in a sampled matrix "." marks the pairs not drawn.
nslab check exits 1 if an expected pair fails.

Large labs are sampled. The kernel's neighbour table (ARP and NDP entries,
net.ipv4.neigh.default.gc_thresh3 and its IPv6 twin, 1024 by default) is
shared by every namespace of the machine, and a full mesh of N nodes needs
about N² entries. So a lab of more than 20 nodes is probed in full only
when that fits half the table; otherwise check probes 500 pairs of nodes
drawn at random (each at all its expected addresses) and says so. --sample N
probes N pairs instead, --sample -1 all of them; --seed chooses the draw,
which is the same on every run with the same seed. Probes that would not
fit half the table at once go out in waves, each with the neighbour entries
it needs written first into the nodes that use them (permanent entries,
which the table does not count, marked with nslab's protocol 78 and deleted
after the wave; an entry a node already has is left as it is), so that no
ARP request or neighbour solicitation is flooded. A probe that fails is
tried again a second later with nothing written.

With --measure, check measures instead every cable with a shape in force
(the file's, or one set by nslab link shape), both ways, and holds the
figures to the shape: one-way delay (all namespaces share the host's
clock, so UDP datagrams stamped when sent and when received give it),
the round trip, the loss, and the rate (a TCP stream, on a way with a
rate and no loss). A cable between nodes is measured between its ends, a
bridge port or host cable against the host's address there (or a node
with an unshaped port on the same bridge). Each path takes a few seconds;
up to 4 are measured at once. It exits 1 when a figure is outside its
tolerance, naming the cable, the way, the figure expected and measured:

  one-way delay (median): delay-jitter-1ms to delay+jitter+max(5ms, 20%)
  round trip (shortest): sum-2ms to sum+jitters+max(10ms, 20%)
  loss: expected ± 4 standard deviations of the datagrams sent + 1 point
  rate (ways without loss, median of 3 windows of 500ms): 80% to 110%

LAB may be left out when only one lab is running.`,
		Example: `  sudo nslab check seed
  sudo nslab check --measure shaped
  sudo nslab check --measure -o json shaped
  sudo nslab check --sample 2000 fabric      # 2000 pairs of nodes
  sudo nslab check --sample 200 --seed 7 -o json fabric
  sudo nslab check --sample -1 fabric        # every pair, however many`,
		Args:              args(cobra.MaximumNArgs(1)),
		ValidArgsFunction: completeLabs,
	}
	out := outputFlag(cmd)
	timeout := cmd.Flags().Duration("timeout", time.Second, "how long to wait for each reply")
	sample := cmd.Flags().Int("sample", 0, "pairs of nodes to probe: 0 chooses by the lab's size, -1 probes all")
	seed := cmd.Flags().Int64("seed", 0, "seed of the drawing of sampled pairs")
	measure := cmd.Flags().Bool("measure", false, "measure every shaped cable both ways (delay, round trip, loss, rate) against its shape")
	cmd.RunE = func(cmd *cobra.Command, a []string) error {
		if err := checkOutput(*out); err != nil {
			return err
		}
		name, err := oneLab(a)
		if err != nil {
			return err
		}
		if fleet.Exists(name) && !lab.Exists(name) && !*measure {
			// A lab across machines brought up here: every host probes
			// from its nodes.
			rep, err := fleet.Check(cmd.Context(), name, fleet.CheckOptions{Sample: *sample, Seed: *seed, Timeout: *timeout}, fleetOptions(lab.Options{}))
			return printCheck(cmd.OutOrStdout(), name, *out, rep, err)
		}
		t, err := lab.Topology(name)
		if err != nil {
			return err
		}
		if *measure {
			return runMeasure(cmd.Context(), cmd.OutOrStdout(), t, *out)
		}
		opt := check.Options{Timeout: *timeout, Sample: *sample, Seed: *seed}
		return runCheck(cmd.Context(), cmd.OutOrStdout(), t, *out, opt)
	}
	return cmd
}

// oneLab returns the lab named in a, or the only running lab.
func oneLab(a []string) (string, error) {
	if len(a) == 1 {
		return a[0], nil
	}
	names, err := lab.Names()
	if err != nil {
		return "", err
	}
	switch len(names) {
	case 0:
		return "", fmt.Errorf("no lab is running")
	case 1:
		return names[0], nil
	}
	return "", &usageError{fmt.Errorf("several labs are running (%v): name one", names)}
}

func runCheck(ctx context.Context, w io.Writer, t *topology.Lab, out string, opt check.Options) error {
	rep, runErr := lab.Check(ctx, t, opt)
	return printCheck(w, t.Name, out, rep, runErr)
}

// printCheck writes a check's report and says whether it failed.
func printCheck(w io.Writer, name, out string, rep *check.Report, runErr error) error {
	if rep == nil {
		return runErr
	}
	var err error
	if out == "json" {
		err = writeJSON(w, rep)
	} else {
		err = rep.WriteMatrix(w)
	}
	switch {
	case runErr != nil:
		return runErr
	case err != nil:
		return err
	case rep.Failed > 0 && rep.Sampled():
		return fmt.Errorf("lab %s: %d of %d probes failed, in a sample of %d pairs of nodes",
			name, rep.Failed, rep.Failed+rep.Passed, rep.Sample.Pairs)
	case rep.Failed > 0:
		return fmt.Errorf("lab %s: %d of %d expected pairs failed", name, rep.Failed, rep.Failed+rep.Passed)
	}
	return nil
}

// runMeasure measures the lab's shaped cables; an error names each
// figure outside its tolerance.
func runMeasure(ctx context.Context, w io.Writer, t *topology.Lab, out string) error {
	rep, err := lab.MeasureShapes(ctx, t)
	if err != nil {
		return err
	}
	if len(rep.Paths) == 0 {
		if out == "json" {
			return writeJSON(w, rep)
		}
		fmt.Fprintf(w, "lab %s has no shaped cable to measure\n", t.Name)
		return nil
	}
	if out == "json" {
		err = writeJSON(w, rep)
	} else {
		err = rep.WriteTable(w)
	}
	if err != nil {
		return err
	}
	if f := rep.Failures(); len(f) > 0 {
		what := "figures outside their tolerance"
		if len(f) == 1 {
			what = "figure outside its tolerance"
		}
		return fmt.Errorf("lab %s: %d measured %s:\n  %s", t.Name, len(f), what, strings.Join(f, "\n  "))
	}
	return nil
}

func newDemo() *cobra.Command {
	var name string
	cmd := &cobra.Command{
		Use:         "demo",
		Annotations: privileged(),
		Short:       "Build the seed lab, check it, show it and remove it",
		Long: `Build the built-in seed lab (examples/seed.yaml: two nodes on a bridge with
the host), probe it with check, print its status and tear it down. Exits 0
only if all of it worked and nothing was left behind.`,
		Example: `  sudo nslab demo`,
		Args:    args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return demo(cmd.Context(), cmd.OutOrStdout(), name)
		},
	}
	cmd.Flags().StringVar(&name, "lab", "demo", "name of the demo lab")
	return cmd
}

func demo(ctx context.Context, w io.Writer, name string) (err error) {
	t, err := topology.Parse("examples/seed.yaml", examples.Seed)
	if err != nil {
		return err
	}
	t.Name = name
	fmt.Fprintf(w, "== up: lab %s from the built-in examples/seed.yaml\n", name)
	start := time.Now()
	if err := lab.Up(ctx, t, examples.Seed, lab.Options{Logf: logf}); err != nil {
		return err
	}
	fmt.Fprintf(w, "lab %s is up: %s in %s\n", name, summary(t), since(start))
	defer func() {
		start := time.Now()
		derr := lab.Down(context.Background(), name, lab.Options{Logf: logf})
		if derr == nil {
			fmt.Fprintf(w, "\n== down: lab %s removed in %s\n", name, since(start))
		}
		if err == nil {
			err = derr
		}
	}()
	fmt.Fprintf(w, "\n== status\n")
	s, err := lab.GetStatus(name)
	if err != nil {
		return err
	}
	sortStatus(s)
	if err := writeStatus(w, []*lab.Status{s}); err != nil {
		return err
	}
	fmt.Fprintf(w, "\n== check\n")
	return runCheck(ctx, w, t, "table", check.Options{Timeout: time.Second})
}
