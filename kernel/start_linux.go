package kernel

import (
	"errors"
	"fmt"
	"os/exec"
	"strings"

	"golang.org/x/sys/unix"
)

// StartIn starts cmd inside the named network namespace as Exec runs a
// command there: in the node's UTS namespace kept in holder (when there
// is one), in a private mount namespace with /sys mounted for the node
// and /etc/netns/NAME/* and files bound over /etc. Unlike Exec, nslab
// goes on: cmd is started (cmd.Start) on a thread that entered those
// namespaces and is thrown away after, so the child is born inside them
// and costs no helper process. Everything else of cmd is kept as given:
// Path, Args, Env, Dir, the files of Stdin, Stdout and Stderr, and
// SysProcAttr (Credential, Setsid, Pdeathsig...); Dir and Credential take
// effect in the child after the namespaces are entered. Wait, Process and
// ProcessState work as usual, from any goroutine.
//
// Equivalent to: ip netns exec NAME ARGV... & (in the node's UTS
// namespace too)
func StartIn(name, holder string, cmd *exec.Cmd, files ...string) error {
	return StartFrom(nil, name, holder, cmd, files...)
}

// StartFrom is StartIn with the command's private mount namespace copied
// from base instead of the host's (see MountBase); a nil base is the
// host's.
func StartFrom(base *MountBase, name, holder string, cmd *exec.Cmd, files ...string) error {
	if cmd.Path == "" {
		return errors.New("no command given")
	}
	err := onDirtyThread(func() error {
		ns, err := unix.Open(NetnsPath(name), unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("opening namespace %s: %w", name, err)
		}
		_, node, _ := strings.Cut(name, ".")
		if err := enterUTS(holder, node); err != nil {
			unix.Close(ns)
			return err
		}
		if base != nil {
			if err := enterBase(base); err != nil {
				unix.Close(ns)
				return err
			}
		}
		if err := enter(name, ns, files); err != nil {
			return err
		}
		return cmd.Start()
	})
	if err != nil {
		return fmt.Errorf("%s: starting %s: %w", name, cmd.Path, err)
	}
	return nil
}

// enterBase moves the calling thread, which must be locked and thrown
// away after, into the base mount namespace.
func enterBase(b *MountBase) error {
	if err := unix.Unshare(unix.CLONE_FS); err != nil {
		return fmt.Errorf("unsharing fs: %w", err)
	}
	if err := unix.Setns(b.fd, unix.CLONE_NEWNS); err != nil {
		return fmt.Errorf("entering the services' mount namespace: %w", err)
	}
	return nil
}
