package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strconv"
	"time"

	"github.com/nslab/nslab/check"
	"github.com/nslab/nslab/fleet"
	"github.com/nslab/nslab/kernel"
	"github.com/nslab/nslab/lab"
	"github.com/nslab/nslab/plan"
	"github.com/nslab/nslab/topology"
	"github.com/spf13/cobra"
)

// newHostApply is what a lab across machines runs on each host over ssh:
// it reads the envelope (lab.Envelope, JSON) on standard input and checks
// (--check) or builds that host's share of the lab.
func newHostApply() *cobra.Command {
	var check, quiet, repair, replace, force bool
	cmd := &cobra.Command{
		Use:         "host-apply LAB",
		Hidden:      true,
		Annotations: privileged(),
		Short:       "Build this host's share of a lab across machines (run by nslab up over ssh)",
		Args:        args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, a []string) error {
			// Down waits for this from here on (lab.HoldShare).
			release, err := lab.HoldShare(cmd.Context(), a[0])
			if err != nil {
				return err
			}
			defer release()
			data, err := io.ReadAll(io.LimitReader(os.Stdin, 4*topology.MaxFileSize))
			if err != nil {
				return err
			}
			var env lab.Envelope
			if err := json.Unmarshal(data, &env); err != nil {
				return fmt.Errorf("reading the lab sent on standard input: %w", err)
			}
			if env.Lab != a[0] {
				return fmt.Errorf("host-apply %s was sent lab %s", a[0], env.Lab)
			}
			t, err := env.Share()
			if err != nil {
				return err
			}
			if check {
				_, _, err := lab.Plan(t, env.Source)
				return err
			}
			return lab.Up(cmd.Context(), t, env.Source, lab.Options{Logf: quietLogf(quiet), Repair: repair, Replace: replace, Force: force})
		},
	}
	cmd.Flags().BoolVar(&check, "check", false, "check the share, changing nothing")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "print nothing but errors")
	cmd.Flags().BoolVar(&repair, "repair", false, "as up --repair")
	cmd.Flags().BoolVar(&replace, "replace", false, "as up --replace")
	cmd.Flags().BoolVar(&force, "force", false, "as up --force")
	return cmd
}

// fleetOptions are the options of a lab across machines: the local
// host's share gets opt; ssh reads NSLAB_SSH_CONFIG when it is set, and
// NSLAB_SSH_TIMEOUT (a duration: 30s, or seconds) is how long a host
// may not answer before it counts as unreachable (default 15s).
func fleetOptions(opt lab.Options) fleet.Options {
	return fleet.Options{Lab: opt, SSHConfig: os.Getenv("NSLAB_SSH_CONFIG"), Timeout: sshTimeout()}
}

// sshTimeout reads NSLAB_SSH_TIMEOUT; a value it cannot read is said on
// stderr and the default kept.
func sshTimeout() time.Duration {
	v := os.Getenv("NSLAB_SSH_TIMEOUT")
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(v); err == nil && n > 0 {
		return time.Duration(n) * time.Second
	}
	if d, err := time.ParseDuration(v); err == nil && d >= time.Second {
		return d
	}
	logf("NSLAB_SSH_TIMEOUT=%q is not a duration of a second or more (30s, or 30): using %s", v, fleet.DefaultTimeout)
	return 0
}

// newHostCheck is what nslab check of a lab across machines runs on each
// host: the probes of this host's nodes, chosen on the whole lab, as a
// JSON report on standard output.
func newHostCheck() *cobra.Command {
	var co fleet.CheckOptions
	var shipped bool
	cmd := &cobra.Command{
		Use:         "host-check LAB",
		Hidden:      true,
		Annotations: privileged(),
		Short:       "Check this host's nodes of a lab across machines (run by nslab check over ssh)",
		Args:        args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, a []string) error {
			var faults *plan.Faults
			if shipped {
				var err error
				if faults, err = readShippedFaults(); err != nil {
					return err
				}
			}
			rep, err := fleet.CheckShare(cmd.Context(), a[0], check.Options{Sample: co.Sample, Seed: co.Seed, Timeout: co.Timeout}, faults)
			if rep != nil {
				if jerr := writeJSON(cmd.OutOrStdout(), rep); jerr != nil && err == nil {
					err = jerr
				}
			}
			return err
		},
	}
	cmd.Flags().IntVar(&co.Sample, "sample", 0, "pairs of nodes to probe (as check)")
	cmd.Flags().Int64Var(&co.Seed, "seed", 0, "seed of the drawing of sampled pairs")
	cmd.Flags().DurationVar(&co.Timeout, "timeout", 0, "how long a probe may take")
	cmd.Flags().BoolVar(&shipped, "faults", false, "read the whole lab's faults in force (JSON) on standard input")
	return cmd
}

// newHostUnderlay is what nslab up of a lab across machines runs on each
// host before anything is built: the interface that holds the host's
// address (hosts: address:) and its MTU, as JSON on standard output.
func newHostUnderlay() *cobra.Command {
	return &cobra.Command{
		Use:    "host-underlay ADDRESS",
		Hidden: true,
		Short:  "Print the interface that holds ADDRESS and its MTU (run by nslab up over ssh)",
		Args:   args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, a []string) error {
			addr, err := netip.ParseAddr(a[0])
			if err != nil {
				return &usageError{err}
			}
			u, err := kernel.UnderlayOf(addr)
			if err != nil {
				return fmt.Errorf("%w: the host's address: in the file must be one of its own", err)
			}
			return writeJSON(cmd.OutOrStdout(), u)
		},
	}
}
