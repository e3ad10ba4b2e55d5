package main

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/nslab/nslab/fleet"
	"github.com/nslab/nslab/internal/natsort"
	"github.com/nslab/nslab/lab"
	"github.com/nslab/nslab/service"
	"github.com/spf13/cobra"
)

// outputFlag adds -o/--output and returns where its value lands.
func outputFlag(cmd *cobra.Command) *string {
	var o string
	cmd.Flags().StringVarP(&o, "output", "o", "table", "output format: table or json")
	return &o
}

func checkOutput(o string) error {
	if o != "table" && o != "json" {
		return &usageError{fmt.Errorf("--output %q: use table or json", o)}
	}
	return nil
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// selectLabs checks the output format and returns the named labs, or
// every running lab.
func selectLabs(output string, a []string) ([]string, error) {
	if err := checkOutput(output); err != nil {
		return nil, err
	}
	if len(a) > 0 {
		return a, nil
	}
	return lab.Names()
}

// labStatus is a lab in status -o json: the kernel's view and its
// services.
type labStatus struct {
	*lab.Status
	Services []service.ServiceState `json:"services,omitempty"`
}

func newStatus() *cobra.Command {
	cmd := &cobra.Command{
		Use:         "status [LAB...]",
		Annotations: privileged(),
		Short:       "Show running labs: nodes, interfaces, addresses, peers and services",
		Long: `Show every running lab (or the named ones) as the kernel has it: each
node's interfaces with their state, addresses and what their cable leads
to, and each bridge with its host-side addresses and ports.

A lab with services gets a second table, one line a service: its state
(waiting, starting, running, backoff, exited, failed, stopping, stopped),
whether it is ready, its pid, how often it was restarted, how long its
process has run, and how it last ended (exit status, signal, or why it
failed). In JSON, each lab's "services".`,
		Example: `  sudo nslab status
  sudo nslab status -o json seed`,
		ValidArgsFunction: completeLabs,
	}
	out := outputFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, a []string) error {
		names, err := selectLabs(*out, a)
		if err != nil {
			return err
		}
		if len(a) == 1 && fleet.Exists(a[0]) && !lab.Exists(a[0]) {
			// A lab across machines brought up here: each host's share.
			return fleet.Status(cmd.Context(), a[0], *out == "json", cmd.OutOrStdout(), fleetOptions(lab.Options{}))
		}
		all := []*lab.Status{}
		for _, n := range names {
			if w := fleet.Where(n); w != "" && !lab.Exists(n) {
				logf("%s", w)
				continue
			}
			s, err := lab.GetStatus(n)
			if err != nil {
				return err
			}
			sortStatus(s)
			all = append(all, s)
		}
		svcs := labServices(names)
		if *out == "json" {
			js := make([]labStatus, len(all))
			for i, s := range all {
				js[i] = labStatus{s, svcs[s.Name]}
			}
			return writeJSON(cmd.OutOrStdout(), js)
		}
		if err := writeStatus(cmd.OutOrStdout(), all); err != nil || len(svcs) == 0 {
			return err
		}
		fmt.Fprintln(cmd.OutOrStdout())
		return writeServices(cmd.OutOrStdout(), names, svcs, time.Now())
	}
	return cmd
}

// sortStatus puts a lab's nodes, bridges and interfaces in natural order
// (h2 before h10).
func sortStatus(s *lab.Status) {
	slices.SortStableFunc(s.Nodes, func(a, b lab.NodeStatus) int { return natsort.Compare(a.Name, b.Name) })
	for _, n := range s.Nodes {
		slices.SortStableFunc(n.Interfaces, func(a, b lab.IfaceStatus) int { return natsort.Compare(a.Name, b.Name) })
	}
	slices.SortStableFunc(s.Host, func(a, b lab.IfaceStatus) int { return natsort.Compare(a.Name, b.Name) })
	slices.SortStableFunc(s.Bridges, func(a, b lab.BridgeStatus) int { return natsort.Compare(a.Name, b.Name) })
}

func writeStatus(w io.Writer, all []*lab.Status) error {
	if len(all) == 0 {
		_, err := fmt.Fprintln(w, "no lab is running")
		return err
	}
	auto := false
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	drifts := 0
	fmt.Fprintln(tw, "LAB\tNODE\tINTERFACE\tSTATE\tADDRESSES\tPEER\tDRIFT")
	for _, s := range all {
		for _, n := range s.Nodes {
			if len(n.Interfaces) == 0 {
				fmt.Fprintf(tw, "%s\t%s\t-\t\t\t\t%s\n", s.Name, n.Name, drift(n.Drift, &drifts))
			}
			for k, i := range n.Interfaces {
				d := "-"
				if k == 0 {
					d = drift(n.Drift, &drifts)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", s.Name, n.Name, i.Name, i.State, marked(i.Addresses, i.Assigned, &auto), peer(i), d)
			}
		}
		for _, i := range s.Host {
			fmt.Fprintf(tw, "%s\thost\t%s (%s)\t%s\t%s\t%s\t-\n", s.Name, i.Name, i.Kernel, i.State, marked(i.Addresses, i.Assigned, &auto), peer(i))
		}
		for _, b := range s.Bridges {
			fmt.Fprintf(tw, "%s\thost\tbridge %s (%s)\t%s\t%s\t%d ports\t%s\n", s.Name, b.Name, b.Kernel, b.State, marked(b.Addresses, b.Assigned, &auto), len(b.Ports), drift(b.Drift, &drifts))
			for _, tp := range b.Taps {
				fmt.Fprintf(tw, "%s\thost\ttap %s (%s)\t%s\t-\t%s\t-\n", s.Name, tp.Name, tp.Kernel, tp.State, b.Name)
			}
		}
		if len(s.Drift) > 0 {
			fmt.Fprintf(tw, "%s\thost\t(the lab's nftables table, host settings)\t\t\t\t%s\n", s.Name, drift(s.Drift, &drifts))
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, s := range all {
		if len(s.Faults) > 0 {
			fmt.Fprintf(w, "faults in force in %s: %s (nslab heal %s reverts them)\n", s.Name, strings.Join(s.Faults, "; "), s.Name)
		}
	}
	if drifts > 0 {
		fmt.Fprintln(w, "drift: changed by hand since nslab made it; nslab up --repair FILE puts it back (status -o json lists the commands)")
	}
	if auto {
		_, err := fmt.Fprintln(w, "* chosen by nslab from the segment's subnet")
		return err
	}
	return nil
}

// drift is the DRIFT column: how many commands would put it back (an
// nft script given on a here-document is one).
func drift(lines []string, n *int) string {
	if len(lines) == 0 {
		return "-"
	}
	cmds, end := 0, ""
	for _, l := range lines {
		switch {
		case end != "":
			if l == end {
				end = ""
			}
			continue
		case strings.HasSuffix(l, "<<'EOF'"):
			end = "EOF"
		}
		cmds++
	}
	*n += cmds
	return fmt.Sprintf("drift (%d)", cmds)
}

// marked lists addresses, those that nslab chose with a star.
// peer is the PEER column: what the cable leads to, and its shape.
// A bond shows its active member, an enslaved interface its master.
func peer(i lab.IfaceStatus) string {
	s := i.Peer
	if i.Shape != "" {
		s += " (" + i.Shape + ")"
	}
	if i.Active != "" {
		s += ", active " + i.Active
	}
	if i.Master != "" {
		s += " [in " + i.Master + "]"
	}
	return s
}

func marked(addrs, assigned []string, any *bool) string {
	out := make([]string, len(addrs))
	for i, a := range addrs {
		out[i] = a
		if slices.Contains(assigned, a) {
			out[i] += "*"
			*any = true
		}
	}
	return list(out)
}

func list(s []string) string {
	if len(s) == 0 {
		return "-"
	}
	return strings.Join(s, ",")
}

func newPs() *cobra.Command {
	cmd := &cobra.Command{
		Use:         "ps [LAB...]",
		Annotations: privileged(),
		Short:       "List the processes and services running in lab nodes",
		Long: `List the processes whose network namespace is a node of a running lab (or
of the named labs): the ps -eo pid,netns,args view, by node name.

When a lab has services, each of them is shown with its process (a
service that has none, exited or waiting, on a line of its own with pid
-): its name, state, whether it is ready, how often it was restarted and
how long its process has run. nslab status shows how each last ended. In
JSON, a service's process carries "service".`,
		Example: `  sudo nslab ps seed
  sudo nslab ps -o json etcd`,
		ValidArgsFunction: completeLabs,
	}
	out := outputFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, a []string) error {
		names, err := selectLabs(*out, a)
		if err != nil {
			return err
		}
		procs, err := lab.Processes(names)
		if err != nil {
			return err
		}
		rows := psRows(procs, labServices(names))
		if *out == "json" {
			return writeJSON(cmd.OutOrStdout(), rows)
		}
		return writePs(cmd.OutOrStdout(), rows, time.Now())
	}
	return cmd
}
