package fleet

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nslab/nslab/check"
	"github.com/nslab/nslab/lab"
	"github.com/nslab/nslab/plan"
	"github.com/nslab/nslab/topology"
)

// remoteHost is the host of a record, ready for ssh; done closes its
// connection.
func remoteHost(rec *Record, hr HostRecord, opt *Options) (*host, func(), error) {
	ctl, err := controlDir()
	if err != nil {
		return nil, nil, err
	}
	h := &host{m: &topology.Machine{Name: hr.Name, SSH: hr.SSH, Sudo: hr.Sudo, Local: hr.Local}, opt: opt, ctl: ctl, binary: hr.Binary}
	return h, func() {
		if !h.m.Local {
			h.closeMaster()
		}
		removeControlDir(ctl)
	}, nil
}

// FindNode finds a node of a lab across machines brought up here, by
// LAB.NODE, or NODE when one such lab has it: its lab and host. ok is
// false when no such lab has it, or (with an error saying so) when
// several have.
func FindNode(ref string) (labName, node string, hr HostRecord, ok bool, err error) {
	type match struct {
		lab, node string
		hr        HostRecord
	}
	var found []match
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
				found = append(found, match{rec.Lab, n, r})
			}
		}
	}
	switch len(found) {
	case 0:
		return "", "", HostRecord{}, false, nil
	case 1:
		return found[0].lab, found[0].node, found[0].hr, true, nil
	}
	var labs []string
	for _, m := range found {
		labs = append(labs, m.lab)
	}
	return "", "", HostRecord{}, false, fmt.Errorf("node %s is in several labs across machines (%s): name it LAB.%s", ref, strings.Join(labs, ", "), ref)
}

// Exec runs argv in a node of a lab across machines on the node's host,
// over ssh, with standard input, output and error attached (a terminal
// when stdin is one); it returns the command's exit status.
func Exec(ctx context.Context, labName, node string, hr HostRecord, argv []string, opt Options) (int, error) {
	return attached(ctx, labName, node, hr, append([]string{"exec", labName + "." + node, "--"}, argv...), true, opt)
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
	} else if faults := FaultsOf(labName).Describe(alive); len(faults) > 0 {
		fmt.Fprintf(w, "lab %s: faults in force (made from here): %s\n\n", labName, strings.Join(faults, "; "))
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

// CheckOptions are what nslab check passes to every host.
type CheckOptions struct {
	Sample  int
	Seed    int64
	Timeout time.Duration
}

// Check probes a lab across machines: every host sends the probes of
// its own nodes, chosen on the whole lab (the same sample everywhere),
// and the reports are merged. A host that cannot check is an error that
// names it; the others' probes are still reported.
func Check(ctx context.Context, labName string, co CheckOptions, opt Options) (*check.Report, error) {
	rec, err := readRecord(labName)
	if err != nil {
		return nil, err
	}
	reports := make([]*check.Report, len(rec.Hosts))
	errs := make([]error, len(rec.Hosts))
	var wg sync.WaitGroup
	for i, hr := range rec.Hosts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			reports[i], errs[i] = checkHost(ctx, rec, hr, co, &opt)
		}()
	}
	wg.Wait()
	var got []*check.Report
	for _, r := range reports {
		if r != nil {
			got = append(got, r)
		}
	}
	return check.Merge(got...), errors.Join(errs...)
}

func checkHost(ctx context.Context, rec *Record, hr HostRecord, co CheckOptions, opt *Options) (*check.Report, error) {
	faults := FaultsOf(rec.Lab)
	if hr.Local {
		return CheckShare(ctx, rec.Lab, check.Options{Sample: co.Sample, Seed: co.Seed, Timeout: co.Timeout}, faults)
	}
	h, done, err := remoteHost(rec, hr, opt)
	if err != nil {
		return nil, err
	}
	defer done()
	// The whole lab's faults in force go on standard input.
	shipped, err := json.Marshal(faults)
	if err != nil {
		return nil, err
	}
	line := fmt.Sprintf("%s host-check --faults --sample %d --seed %d --timeout %s %s", h.binary, co.Sample, co.Seed, co.Timeout, rec.Lab)
	out, errOut, err := h.sshSplit(ctx, bytes.NewReader(shipped), line)
	var rep check.Report
	if jerr := json.Unmarshal(out, &rep); jerr != nil {
		if err == nil {
			err = fmt.Errorf("host %s (%s): reading its check: %v", hr.Name, h.m.Where(), jerr)
		}
		return nil, err
	}
	if err != nil {
		return &rep, fmt.Errorf("host %s (%s): %s", hr.Name, h.m.Where(), strings.TrimSpace(string(errOut)))
	}
	return &rep, nil
}

// CheckShare checks the probes of this machine's nodes of a lab across
// machines, on the whole lab. The faults in force are expected: those of
// the whole lab that the machine that brought it up shipped (nil: none
// shipped) with those of this machine's share.
func CheckShare(ctx context.Context, labName string, opt check.Options, shipped *plan.Faults) (*check.Report, error) {
	whole, spec, err := lab.Whole(labName)
	if err != nil {
		return nil, err
	}
	opt.Sources = func(node string) bool { return spec.Placement[node] == spec.Host }
	if opt.Faults == nil {
		opt.Faults = lab.CheckFaults(MergeFaults(shipped, lab.Faults(labName)))
	}
	return lab.Check(ctx, whole, opt)
}

// MergeFaults is what check expects of a share: the whole lab's faults
// (shipped) and the share's own (local, those made on the host itself):
// the cuts and blocks of both, the partition shipped unless it has none.
func MergeFaults(shipped, local *plan.Faults) *plan.Faults {
	out := &plan.Faults{}
	for _, f := range []*plan.Faults{local, shipped} {
		if f == nil {
			continue
		}
		out.Cuts = append(out.Cuts, f.Cuts...)
		for _, b := range f.Blocks {
			out.AddBlock(b)
		}
		if len(f.Partition) > 0 {
			out.Partition = f.Partition
		}
	}
	slices.Sort(out.Cuts)
	out.Cuts = slices.Compact(out.Cuts)
	return out
}

// sshSplit runs a command line on the host, with stdin as its standard
// input, and its standard output and error apart.
func (h *host) sshSplit(ctx context.Context, stdin io.Reader, line string) (stdout, stderr []byte, err error) {
	cmd := exec.CommandContext(ctx, "ssh", h.sshArgs(line)...)
	cmd.Stdin = stdin
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err = run(cmd)
	return o.Bytes(), e.Bytes(), err
}
