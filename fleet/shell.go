package fleet

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
)

// Shell starts an interactive shell in a node of a lab across machines,
// on the node's host (nslab shell there), over ssh with a terminal of its
// own there when standard input is one here (ssh -t); it returns the
// shell's exit status.
func Shell(ctx context.Context, labName, node string, hr HostRecord, opt Options) (int, error) {
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
		return 0, fmt.Errorf("node %s of lab %s is on this machine (host %s) but not running here: nslab status %s", node, labName, h.m.Name, labName)
	}
	args := h.sshArgs(h.binary + " shell " + labName + "." + node)
	if isTerminal(os.Stdin) {
		args = append([]string{"-t"}, args...)
	}
	cmd := exec.CommandContext(ctx, "ssh", args...)
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
