package main

import (
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/nslab/nslab/journal"
	"github.com/nslab/nslab/lab"
	"github.com/spf13/cobra"
)

func newEvents() *cobra.Command {
	var since string
	var follow, noKernel bool
	cmd := &cobra.Command{
		Use:         "events [LAB]",
		Annotations: privileged(),
		Short:       "Show what happens to running labs, as it happens",
		Long: `Show the events of every running lab (or of LAB): labs up, changed and
down, cables cut and joined, partitions, blocks, shapes and heals (from
the lab's journal, which every command that changes the lab appends to),
services started, ready and exited (from the services supervisor), and,
as they come, the kernel's own notifications: links up, down, added and
removed, addresses and routes added and removed.

The journal's events come first, then nslab follows the labs until
Ctrl-C (--follow=false prints the journal and stops). With -o json each
event is one JSON object a line, with its time; the journal is kept in
the lab's state directory as LAB/events.jsonl, in the same form.`,
		Example: `  sudo nslab events
  sudo nslab events seed -o json --since 10m
  sudo nslab events seed --follow=false`,
		Args:              args(cobra.MaximumNArgs(1)),
		ValidArgsFunction: completeLabs,
	}
	output := outputFlag(cmd)
	cmd.Flags().StringVar(&since, "since", "", "only events since a time (RFC 3339) or a duration ago (10m)")
	cmd.Flags().BoolVarP(&follow, "follow", "f", true, "go on showing events as they come, until Ctrl-C")
	cmd.Flags().BoolVar(&noKernel, "no-kernel", false, "leave out the kernel's notifications")
	cmd.RunE = func(cmd *cobra.Command, a []string) error {
		if err := checkOutput(*output); err != nil {
			return err
		}
		o := lab.EventsOptions{Follow: follow, Kernel: !noKernel, Logf: logf}
		if len(a) == 1 {
			o.Lab = a[0]
		}
		var err error
		if o.Since, err = parseSince(since, time.Now()); err != nil {
			return &usageError{err}
		}
		w := cmd.OutOrStdout()
		return lab.Events(cmd.Context(), o, func(e journal.Event) { printEvent(w, e, *output == "json") })
	}
	return cmd
}

// parseSince reads --since: a time in RFC 3339, or a duration before now.
func parseSince(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("--since %q: give a time (2026-12-06T09:00:00Z) or a duration ago (10m, 1h30m)", s)
}

// printEvent writes one event a line: JSON, or its time and words.
func printEvent(w io.Writer, e journal.Event, asJSON bool) {
	if asJSON {
		b, _ := json.Marshal(e)
		fmt.Fprintf(w, "%s\n", b)
		return
	}
	fmt.Fprintf(w, "%s  %s\n", e.Time.Local().Format("15:04:05.000"), e)
}
