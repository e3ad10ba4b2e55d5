package fleet

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/nslab/nslab/topology"
)

// remoteHost is the host of a record, ready for ssh; done closes its
// connection.
func remoteHost(rec *Record, hr HostRecord, opt *Options) (*host, func(), error) {
	ctl, err := os.MkdirTemp("", "nslab-ssh-")
	if err != nil {
		return nil, nil, err
	}
	h := &host{m: &topology.Machine{Name: hr.Name, SSH: hr.SSH, Sudo: hr.Sudo, Local: hr.Local}, opt: opt, ctl: ctl, binary: hr.Binary}
	return h, func() {
		if !h.m.Local {
			h.closeMaster()
		}
		os.RemoveAll(ctl)
	}, nil
}

// FindNode finds a node of a lab across machines brought up here, by
// LAB.NODE, or NODE when one such lab has it: its lab and host. ok is
// false when no such lab has it.
func FindNode(ref string) (labName, node string, hr HostRecord, ok bool) {
	ents, _ := os.ReadDir(recordDir())
	for _, e := range ents {
		name, isRec := strings.CutSuffix(e.Name(), ".json")
		if !isRec {
			continue
		}
		rec, err := readRecord(name)
		if err != nil {
			continue
		}
		n := ref
		if l, rest, cut := strings.Cut(ref, "."); cut && l == rec.Lab {
			n = rest
		} else if cut && rec.Placement[ref] == "" {
			continue
		}
		h, placed := rec.Placement[n]
		if !placed {
			continue
		}
		for _, r := range rec.Hosts {
			if r.Name == h {
				return rec.Lab, n, r, true
			}
		}
	}
	return "", "", HostRecord{}, false
}

// Exec runs argv in a node of a lab across machines on the node's host,
// over ssh, with standard input, output and error attached (a terminal
// when stdin is one); it returns the command's exit status.
func Exec(ctx context.Context, labName, node string, hr HostRecord, argv []string, opt Options) (int, error) {
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
	line := h.binary + " exec " + labName + "." + node + " --"
	for _, a := range argv {
		line += " " + shellQuote(a)
	}
	if h.m.Sudo {
		line = "sudo -n " + line
	}
	args := []string{}
	if opt.SSHConfig != "" {
		args = append(args, "-F", opt.SSHConfig)
	}
	if isTerminal(os.Stdin) {
		args = append(args, "-t")
	}
	args = append(args, "-o", "BatchMode=yes", "-o", "ConnectTimeout=15", "-o", "ControlPath="+filepath.Join(h.ctl, "%C"), "-o", "ControlMaster=auto", h.m.SSH, "--", line)
	cmd := exec.CommandContext(ctx, "ssh", args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	err = cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ee.ExitCode() == 255 {
			return 255, fmt.Errorf("host %s (%s): ssh failed (check that `ssh %s true` works without a prompt)", h.m.Name, h.m.Where(), h.m.SSH)
		}
		return ee.ExitCode(), nil
	}
	return 0, err
}

// Status writes each host's share of a lab across machines as nslab
// status shows it there, under the host's name (-o json: one object per
// host, {"host": NAME, "status": [...]}).
func Status(ctx context.Context, labName string, asJSON bool, w io.Writer, opt Options) error {
	rec, err := readRecord(labName)
	if err != nil {
		return err
	}
	var errs []error
	if asJSON {
		fmt.Fprint(w, "[")
	}
	for i, hr := range rec.Hosts {
		h, done, err := remoteHost(rec, hr, &opt)
		if err != nil {
			return err
		}
		var out []byte
		if h.m.Local {
			exe, _ := os.Executable()
			args := []string{"status", labName}
			if asJSON {
				args = []string{"status", "-o", "json", labName}
			}
			out, err = exec.CommandContext(ctx, exe, args...).CombinedOutput()
		} else {
			line := h.binary + " status " + labName
			if asJSON {
				line = h.binary + " status -o json " + labName
			}
			out, err = h.ssh(ctx, nil, line)
		}
		done()
		switch {
		case err != nil:
			errs = append(errs, err)
		case asJSON:
			if i > 0 {
				fmt.Fprint(w, ",")
			}
			fmt.Fprintf(w, "\n{\"host\": %q, \"status\": %s}", hr.Name, strings.TrimSpace(string(out)))
		default:
			fmt.Fprintf(w, "host %s (%s):\n%s\n", hr.Name, h.m.Where(), strings.TrimRight(string(out), "\n"))
		}
	}
	if asJSON {
		fmt.Fprintln(w, "\n]")
	}
	return errors.Join(errs...)
}

// shellQuote quotes s for a POSIX shell.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./=:@,+%") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
