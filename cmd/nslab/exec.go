package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/nslab/nslab/fleet"
	"github.com/nslab/nslab/lab"
	"github.com/spf13/cobra"
)

func newExec() *cobra.Command {
	cmd := &cobra.Command{
		Use:         "exec NODE [--] COMMAND [ARG...]",
		Annotations: privileged(),
		Short:       "Run a command inside a lab node",
		Long: `Run a command inside a lab node, with standard input, output and error
attached; nslab exits with the command's exit status. As with ip netns exec,
the command sees /sys for the node and /etc/netns/LAB.NODE/* over /etc.
NSLAB_LAB and NSLAB_NODE are set in its environment.`,
		Example: `  sudo nslab exec ns1 -- ip -br addr
  sudo nslab exec seed.ns1 -- ping -c1 10.0.0.3`,
		Args:              args(cobra.MinimumNArgs(2)),
		ValidArgsFunction: completeNodes,
		RunE: func(cmd *cobra.Command, a []string) error {
			argv := a[1:]
			if argv[0] == "--" {
				argv = argv[1:]
			}
			if len(argv) == 0 {
				return &usageError{fmt.Errorf("exec %s: no command given", a[0])}
			}
			return execIn(a[0], argv, nil)
		},
	}
	cmd.Flags().SetInterspersed(false)
	return cmd
}

func newShell() *cobra.Command {
	return &cobra.Command{
		Use:         "shell NODE",
		Annotations: privileged(),
		Short:       "Start an interactive shell inside a lab node",
		Long: `Start $SHELL (or /bin/bash, or /bin/sh) inside a lab node. The prompt
starts with the node's name, [LAB.NODE].`,
		Example:           `  sudo nslab shell ns1`,
		Args:              args(cobra.ExactArgs(1)),
		ValidArgsFunction: completeNodes,
		RunE: func(cmd *cobra.Command, a []string) error {
			n, err := lab.FindNode(a[0])
			if err != nil {
				labName, node, hr, ok, ferr := fleet.FindNode(a[0])
				if ferr != nil {
					return ferr
				}
				if !ok {
					return err
				}
				// A node of a lab across machines: its shell on its host.
				code, err := fleet.Shell(context.Background(), labName, node, hr, fleetOptions(lab.Options{}))
				if err != nil {
					return err
				}
				if code != 0 {
					return &exitError{code}
				}
				return nil
			}
			argv, env, err := shellArgs(n)
			if err != nil {
				return err
			}
			return execIn(a[0], argv, env)
		},
	}
}

// execIn replaces nslab with argv inside the node; it returns on failure.
func execIn(ref string, argv, extraEnv []string) error {
	n, err := lab.FindNode(ref)
	if err != nil {
		labName, node, hr, ok, ferr := fleet.FindNode(ref)
		if ferr != nil {
			return ferr
		}
		if ok && extraEnv == nil {
			// A node of a lab across machines, on another host.
			code, err := fleet.Exec(context.Background(), labName, node, hr, argv, fleetOptions(lab.Options{}))
			if err != nil {
				return err
			}
			if code != 0 {
				return &exitError{code}
			}
			return nil
		}
		return err
	}
	env := append(os.Environ(), "NSLAB_LAB="+n.Lab, "NSLAB_NODE="+n.Name)
	env = append(env, extraEnv...)
	err = n.Exec(argv, env)
	if err == nil {
		return nil
	}
	// The command cannot run: say so as a shell does, with its status.
	var ee *exec.Error
	var pe *fs.PathError
	if errors.As(err, &ee) || errors.As(err, &pe) && pe.Op == "exec" {
		if errors.Is(err, exec.ErrNotFound) || errors.Is(err, fs.ErrNotExist) {
			logf("%s: %s: command not found", n.Netns(), argv[0])
			return &exitError{127}
		}
		logf("%s: %s: cannot run it: %v", n.Netns(), argv[0], errors.Unwrap(err))
		return &exitError{126}
	}
	return fmt.Errorf("%s: running %s: %w", n.Netns(), argv[0], err)
}

// shellArgs picks the user's shell and makes its prompt name the node.
func shellArgs(n lab.Node) (argv, env []string, err error) {
	sh := os.Getenv("SHELL")
	if sh == "" {
		sh = "/bin/bash"
		if _, err := os.Stat(sh); err != nil {
			sh = "/bin/sh"
		}
	}
	prompt := "[" + n.Netns() + "] "
	if filepath.Base(sh) != "bash" {
		return []string{sh, "-i"}, []string{"PS1=" + prompt + "$ "}, nil
	}
	rc := filepath.Join(lab.StateDir, n.Lab, "bashrc")
	body := strings.Join([]string{
		"[ -r /etc/bash.bashrc ] && . /etc/bash.bashrc",
		"[ -r ~/.bashrc ] && . ~/.bashrc",
		"PS1='" + prompt + "'\"$PS1\"",
	}, "\n") + "\n"
	if err := os.WriteFile(rc, []byte(body), 0o600); err != nil {
		return nil, nil, fmt.Errorf("writing the shell's rc file: %w", err)
	}
	return []string{sh, "--rcfile", rc, "-i"}, nil, nil
}
