// Command nslab turns a YAML topology file into a live network of Linux
// network namespaces, veth pairs and bridges, and removes it again.
package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"

	"github.com/nslab/nslab/kernel"
	"github.com/nslab/nslab/topology"
	"github.com/spf13/cobra"
)

// exitError carries an exit code without a message of its own, as when
// a command run by exec or a failed check decides the status.
type exitError struct{ code int }

func (e *exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

// usageError marks errors in how nslab was called: exit status 2.
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	root := newRoot()
	root.SetArgs(args)
	// Ctrl-C or SIGTERM during up stops the build, which then removes what
	// it made; a second signal kills nslab as usual.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() { <-ctx.Done(); stop() }()
	err := root.ExecuteContext(ctx)
	if err != nil && strings.HasPrefix(err.Error(), "unknown command") {
		err = &usageError{err}
	}
	var ee *exitError
	var ue *usageError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return ee.code
	case errors.As(err, &ue):
		fmt.Fprintf(os.Stderr, "nslab: %v\nRun 'nslab --help' for usage.\n", err)
		return 2
	}
	msg := err.Error()
	var unreadable *topology.UnreadableError
	if errors.Is(err, fs.ErrPermission) && !strings.Contains(msg, "needs root") && !errors.As(err, &unreadable) {
		msg += "\n(nslab needs root, or the capabilities CAP_NET_ADMIN, CAP_SYS_ADMIN and CAP_DAC_OVERRIDE)"
	}
	fmt.Fprintf(os.Stderr, "nslab: %s\n", msg)
	return 1
}

func newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:   "nslab",
		Short: "Virtual networks of Linux namespaces, veth pairs and bridges, from a YAML file",
		Long: `nslab turns a short YAML file into a live network on this host, made of the
kernel's own parts: network namespaces as nodes, veth pairs as cables and
Linux bridges as switches, with addresses, routes and sysctls.

Nodes are named LAB.NODE under /run/netns, so ip netns exec and nsenter work
on them too. NODE arguments take the bare node name when it is unique among
running labs, else LAB.NODE.`,
		Example: `  sudo nslab demo                       # build, check and remove the seed lab
  sudo nslab up examples/seed.yaml
  sudo nslab exec ns1 -- ping -c1 10.0.0.3
  sudo nslab check seed
  sudo nslab down examples/seed.yaml`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.Version = version(debug.ReadBuildInfo())
	root.SetVersionTemplate("nslab {{.Version}}\n")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &usageError{err} })
	root.PersistentPreRunE = checkPrivileges
	root.AddCommand(newUp(), newDown(), newHostApply(), newHostCheck(), newHostFault(), newHostUnderlay(), newValidate(), newPlan(), newStatus(), newPs(), newLogs(),
		newExec(), newShell(), newLink(), newPartition(), newBlock(), newHeal(), newSchedule(), newCheck(), newDemo(), newGen(), newGraph(), newCapture(), newEvents(), newWeb())
	return root
}

// privileged marks the commands that read or change the kernel's
// namespaces and links, which need root's capabilities.
func privileged() map[string]string { return map[string]string{"privileged": "yes"} }

// checkPrivileges stops a privileged command up front, before it reads
// anything, when the process lacks the capabilities it needs: without
// them namespaces cannot be entered, and every node would look missing.
func checkPrivileges(cmd *cobra.Command, _ []string) error {
	if cmd.Annotations["privileged"] == "" {
		return nil
	}
	missing, err := kernel.MissingPrivileges()
	if err != nil {
		return err
	}
	if len(missing) > 0 {
		return fmt.Errorf("%s needs root, or the capabilities CAP_NET_ADMIN, CAP_SYS_ADMIN and CAP_DAC_OVERRIDE, and this process lacks %s: run it as root (with sudo, for one)",
			strings.TrimPrefix(cmd.CommandPath(), "nslab "), strings.Join(missing, " and "))
	}
	return nil
}

// privileges reports whether the process has the capabilities nslab
// needs.
func privileges() bool {
	missing, err := kernel.MissingPrivileges()
	return err == nil && len(missing) == 0
}

// args wraps a cobra argument validator so that its errors are usage errors.
func args(v cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, a []string) error {
		if err := v(cmd, a); err != nil {
			return &usageError{err}
		}
		return nil
	}
}

func logf(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "nslab: "+format+"\n", a...)
}
