package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/nslab/nslab/fleet"
	"github.com/nslab/nslab/lab"
	"github.com/nslab/nslab/topology"
	"github.com/spf13/cobra"
)

// newHostApply is what a lab across machines runs on each host over ssh:
// it reads the envelope (lab.Envelope, JSON) on standard input and checks
// (--check) or builds that host's share of the lab.
func newHostApply() *cobra.Command {
	var check, quiet bool
	cmd := &cobra.Command{
		Use:         "host-apply",
		Hidden:      true,
		Annotations: privileged(),
		Short:       "Build this host's share of a lab across machines (run by nslab up over ssh)",
		Args:        args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			data, err := io.ReadAll(io.LimitReader(os.Stdin, 4*topology.MaxFileSize))
			if err != nil {
				return err
			}
			var env lab.Envelope
			if err := json.Unmarshal(data, &env); err != nil {
				return fmt.Errorf("reading the lab sent on standard input: %w", err)
			}
			t, err := env.Share()
			if err != nil {
				return err
			}
			if check {
				_, _, err := lab.Plan(t, env.Source)
				return err
			}
			return lab.Up(cmd.Context(), t, env.Source, lab.Options{Logf: quietLogf(quiet)})
		},
	}
	cmd.Flags().BoolVar(&check, "check", false, "check the share, changing nothing")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "print nothing but errors")
	return cmd
}

// fleetOptions are the options of a lab across machines: the local
// host's share gets opt; ssh reads NSLAB_SSH_CONFIG when it is set.
func fleetOptions(opt lab.Options) fleet.Options {
	return fleet.Options{Lab: opt, SSHConfig: os.Getenv("NSLAB_SSH_CONFIG")}
}
