package fleet

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
)

// Run runs nslab with args on a host of a lab across machines brought up
// here, over ssh, with standard input, output and error attached, and
// returns its exit status: how a command about a node (logs, ps) reaches
// the node's host.
func Run(ctx context.Context, labName string, hr HostRecord, args []string, opt Options) (int, error) {
	return attached(ctx, labName, "", hr, args, false, opt)
}

// attached runs nslab with args on host hr of a lab across machines over
// ssh, with this process's standard input, output and error, and a
// terminal there when tty is set and stdin is one here; it returns the
// remote command's exit status. node names the node the command is about
// ("" for none), for the error when the host is this machine.
func attached(ctx context.Context, labName, node string, hr HostRecord, args []string, tty bool, opt Options) (int, error) {
	rec, err := readRecord(labName)
	if err != nil {
		return 0, err
	}
	h, done, err := remoteHost(rec, hr, &opt)
	if err != nil {
		return 0, err
	}
	defer done()
	if h.m.Local {
		if node != "" {
			return 0, fmt.Errorf("node %s of lab %s is on this machine (host %s) but not running here: nslab status %s", node, labName, h.m.Name, labName)
		}
		return 0, fmt.Errorf("host %s of lab %s is this machine, but the lab does not run here: nslab status %s", h.m.Name, labName, labName)
	}
	quoted := make([]string, len(args))
	for i, a := range args {
		quoted[i] = shellQuote(a)
	}
	sshArgs := h.sshArgs(h.binary + " " + strings.Join(quoted, " "))
	if tty && isTerminal(os.Stdin) {
		sshArgs = append([]string{"-t"}, sshArgs...)
	}
	cmd := exec.CommandContext(ctx, "ssh", sshArgs...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	err = run(cmd)
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ee.ExitCode() == 255 {
			return 255, fmt.Errorf("host %s (%s): ssh failed (check that `ssh %s true` works without a prompt)", h.m.Name, h.m.Where(), h.m.SSH)
		}
		return ee.ExitCode(), nil
	}
	return 0, err
}
