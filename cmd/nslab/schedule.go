package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/nslab/nslab/fleet"
	"github.com/nslab/nslab/lab"
	"github.com/nslab/nslab/topology"
	"github.com/spf13/cobra"
)

// stepLog writes each step of a schedule as a JSON line.
func stepLog(w io.Writer) func(lab.StepEvent) {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return func(ev lab.StepEvent) { enc.Encode(ev) }
}

func newFlap() *cobra.Command {
	var period, down, d time.Duration
	cmd := &cobra.Command{
		Use:         "flap IFACE",
		Annotations: privileged(),
		Short:       "Cut and join a cable again and again, for a while",
		Long: `Flap the cable of an interface: cut it, join it again after --down, every
--period, for --for, in the foreground. Each step is printed as a JSON line
as it is done; at the end, or on Ctrl-C, the cable is joined again and every
fault in force reverted (as nslab heal does). Killed outright, it leaves the
cable as it was at that moment, and the lab's record says so: the next
nslab heal or down reverts it.`,
		Example:           "  sudo nslab link flap ns1:eth0 --period 2s --down 500ms --for 30s",
		Args:              args(cobra.ExactArgs(1)),
		ValidArgsFunction: completeIfaces,
		RunE: func(cmd *cobra.Command, a []string) error {
			l, node, iface, across, err := acrossIface(a[0])
			if err == nil && !across {
				l, node, iface, err = parseIface(a[0])
			}
			if err != nil {
				return err
			}
			steps, err := lab.Flap(node+":"+iface, period, down, d)
			if err != nil {
				return &usageError{err}
			}
			if across {
				if _, _, err := fleet.Whole(l); err != nil {
					return err
				}
				return fleet.RunSchedule(cmd.Context(), l, "flap "+node+":"+iface, steps, fleetOptions(lab.Options{Logf: logf}), stepLog(cmd.OutOrStdout()))
			}
			return lab.RunSchedule(cmd.Context(), l, "flap "+node+":"+iface, steps, lab.Options{Logf: logf}, stepLog(cmd.OutOrStdout()))
		},
	}
	cmd.Flags().DurationVar(&period, "period", 2*time.Second, "time from one cut to the next")
	cmd.Flags().DurationVar(&down, "down", 500*time.Millisecond, "how long the cable stays cut each time")
	cmd.Flags().DurationVar(&d, "for", 10*time.Second, "how long to flap")
	return cmd
}

func newSchedule() *cobra.Command {
	var labName string
	cmd := &cobra.Command{
		Use:         "schedule FILE",
		Annotations: privileged(),
		Short:       "Run a schedule of timed faults on a running lab",
		Long: `Run a fault schedule on a running lab, in the foreground: a YAML list of
steps, each with its time from the start (at) and one action: cut or join
a cable (NODE:IF), partition (groups of nodes), block (one way, from and
to nodes, with an optional loss), shape (iface and the options of nslab
link shape, or off: true), flap (iface, period, down, for) or heal.

  - {at: 0s, cut: ns1:eth0}
  - {at: 2s, join: ns1:eth0}
  - {at: 3s, partition: [[ns1], [ns2, ns3]]}
  - {at: 5s, block: {from: [ns1], to: [ns2], loss: 10%}}
  - {at: 6s, flap: {iface: ns2:eth0, period: 1s, down: 300ms, for: 4s}}
  - {at: 10s, shape: {iface: ns1:eth0, rate: 5mbit, loss: 10%, direction: out}}
  - {at: 10.5s, shape: {iface: ns2:eth0, off: true}}
  - {at: 11s, heal: true}

Each step is printed as a JSON line as it is done (time, at_ms, late_ms,
step, error). At the end, on Ctrl-C or at a step that fails, every fault in
force is reverted, as nslab heal does, and logged as a last step
"revert". Killed outright, it leaves the faults of that moment, and the
lab's record holds them: the next nslab heal or down reverts them.`,
		Example: "  sudo nslab schedule --lab seed faults.yaml",
		Args:    args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, a []string) error {
			name, err := oneLab(nonEmpty(labName))
			if err != nil {
				return err
			}
			across := fleet.Exists(name)
			var t *topology.Lab
			if across {
				// A lab across machines brought up here: the steps are
				// checked on the whole lab, and sent to the hosts.
				t, _, err = fleet.Whole(name)
			} else {
				t, err = lab.Topology(name)
			}
			if err != nil {
				return err
			}
			data, err := os.ReadFile(a[0])
			if err != nil {
				return fmt.Errorf("reading the schedule: %w", err)
			}
			steps, err := lab.ParseSchedule(a[0], data, t)
			if err != nil {
				return err
			}
			if across {
				return fleet.RunSchedule(cmd.Context(), name, "schedule "+a[0], steps, fleetOptions(lab.Options{Logf: logf}), stepLog(cmd.OutOrStdout()))
			}
			return lab.RunSchedule(cmd.Context(), name, "schedule "+a[0], steps, lab.Options{Logf: logf}, stepLog(cmd.OutOrStdout()))
		},
	}
	cmd.Flags().StringVar(&labName, "lab", "", "the lab, when several are running")
	return cmd
}

func nonEmpty(s string) []string {
	if s == "" {
		return nil
	}
	return []string{s}
}
