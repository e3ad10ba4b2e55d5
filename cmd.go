package nslab

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"

	"github.com/nslab/nslab/kernel"
	"github.com/nslab/nslab/lab"
)

// Cmd is a command to run in a node, as nslab exec runs it: in the node's
// network and UTS namespaces (hostname prints the node's), in a private
// mount namespace with /sys for the node and the lab's hosts and
// resolv.conf over /etc's (files in /etc/netns/LAB.NODE/ win), with
// NSLAB_LAB and NSLAB_NODE in its environment.
//
// It is an exec.Cmd: set its fields (Stdin, Stdout, Dir, Env,
// SysProcAttr...) and use Wait, the pipes, Process and ProcessState as
// usual. Only Start, Run, Output and CombinedOutput are Cmd's own: an
// exec.Cmd started by itself (c.Cmd.Start) would run on the host. Start
// starts the process from this program, with no helper process: a thread
// enters the node's namespaces, forks it and is thrown away.
type Cmd struct {
	*exec.Cmd
	node *Node
}

// Command returns the command to run program name with args in the node.
// ctx kills the process (see exec.CommandContext) if it is done before
// the command ends. name is looked up in PATH as exec.Command does. Env
// starts as this process's environment with NSLAB_LAB and NSLAB_NODE
// added; a command given an Env of its own has only what it gives.
// Close of the lab ends the process if it still runs.
func (n *Node) Command(ctx context.Context, name string, args ...string) *Cmd {
	c := exec.CommandContext(ctx, name, args...)
	c.Env = append(os.Environ(), "NSLAB_LAB="+n.lab.name, "NSLAB_NODE="+n.name)
	return &Cmd{Cmd: c, node: n}
}

// Start starts the command in the node; Wait waits for it.
func (c *Cmd) Start() error {
	if err := c.node.usable(); err != nil {
		return err
	}
	if c.Err != nil {
		return c.Err
	}
	l := c.node.lab.name
	if err := kernel.StartIn(c.node.Netns(), lab.UTSHolder(l), c.Cmd, lab.HostsFile(l), lab.ResolvFile(l)); err != nil {
		return err
	}
	c.node.lab.track(c)
	return nil
}

// Run starts the command in the node and waits for it to end.
func (c *Cmd) Run() error {
	if err := c.Start(); err != nil {
		return err
	}
	return c.Wait()
}

// Output runs the command in the node and returns its standard output.
// As with exec.Cmd, an *exec.ExitError carries its standard error when
// Stderr was not set.
func (c *Cmd) Output() ([]byte, error) {
	if c.Stdout != nil {
		return nil, errors.New("exec: Stdout already set")
	}
	var stdout, stderr bytes.Buffer
	c.Stdout = &stdout
	captureErr := c.Stderr == nil
	if captureErr {
		c.Stderr = &stderr
	}
	err := c.Run()
	var ee *exec.ExitError
	if captureErr && errors.As(err, &ee) {
		ee.Stderr = stderr.Bytes()
	}
	return stdout.Bytes(), err
}

// CombinedOutput runs the command in the node and returns its standard
// output and standard error together.
func (c *Cmd) CombinedOutput() ([]byte, error) {
	if c.Stdout != nil {
		return nil, errors.New("exec: Stdout already set")
	}
	if c.Stderr != nil {
		return nil, errors.New("exec: Stderr already set")
	}
	var b bytes.Buffer
	c.Stdout, c.Stderr = &b, &b
	err := c.Run()
	return b.Bytes(), err
}
