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
		return 0, fmt.Errorf("host %s of lab %s is this machine, but the lab does not run here: nslab status %s", h.m.Name, labName, labName)
	}
	quoted := make([]string, len(args))
	for i, a := range args {
		quoted[i] = shellQuote(a)
	}
	cmd := exec.CommandContext(ctx, "ssh", h.sshArgs(h.binary+" "+strings.Join(quoted, " "))...)
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
