// Package fleet brings up and down labs across machines (a file with
// hosts:). The machine where nslab runs places the nodes
// (topology.Place), sends each host one envelope (lab.Envelope: the file,
// the placement, the addresses) over the system's ssh, and has nslab on
// that host check it (every host before any builds) and then build its
// share (topology.Share) as a lab of its own; cables and bridges between
// machines are VXLAN tunnels of the shares. A local: true host is built
// in this process.
//
// A record of the hosts a lab was sent to (StateDir/.fleet/LAB.json,
// written before the first host builds) lets down remove the lab from
// every host, after a failed or killed up too; a host that cannot be
// reached at down stays in the record, named, for the next down.
//
// ssh is the system's OpenSSH client, run as the user nslab runs as, or
// under sudo as the user who ran sudo (SUDO_USER: their keys, agent and
// ssh_config, as when they type ssh), in batch mode, one
// connection per host for a whole command (ControlMaster), with the
// ssh_config of NSLAB_SSH_CONFIG when set. nslab on a host is this very
// binary, copied to /var/lib/nslab/bin/nslab-SUM (SUM: the start of its
// SHA-256) when that file is not there.
package fleet

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/nslab/nslab/lab"
	"github.com/nslab/nslab/topology"
)

// Options tune Up and Down.
type Options struct {
	// Lab are the options of the local host's share (and its log).
	Lab lab.Options
	// SSHConfig is the ssh_config ssh reads (-F); "" is ssh's default.
	SSHConfig string
	// Timeout is how long a host may not answer before it counts as
	// unreachable: ssh's connect timeout, and the time a connection
	// may go without an answer to ssh's keepalives (a host whose cable
	// is cut during a command). 0 is DefaultTimeout.
	Timeout time.Duration
	// Forget names hosts that Down does not try to reach: they are gone
	// for good, and Down drops them from the lab's record, saying what
	// they may still hold.
	Forget []string
}

// DefaultTimeout is Options.Timeout's default.
const DefaultTimeout = 15 * time.Second

func (o *Options) timeout() time.Duration {
	if o.Timeout <= 0 {
		return DefaultTimeout
	}
	return o.Timeout
}

func (o *Options) logf(format string, args ...any) {
	if o.Lab.Logf != nil {
		o.Lab.Logf(format, args...)
	}
}

// Record is what a lab across machines left where it was brought up.
type Record struct {
	Lab       string               `json:"lab"`
	Hosts     []HostRecord         `json:"hosts"`
	Assigned  topology.Assignments `json:"assigned"`
	Placement topology.Placement   `json:"placement"`
	// Built says the last up finished on every host; until then a share
	// may still be on its way to a host (see Down).
	Built bool `json:"built,omitempty"`
	// File and Source are the lab's file as up read it: the faults
	// commands work out on the whole lab which hosts hold what.
	File   string `json:"file,omitempty"`
	Source []byte `json:"source,omitempty"`
}

// HostRecord is one host a lab was sent to.
type HostRecord struct {
	Name  string `json:"name"`
	SSH   string `json:"ssh,omitempty"`
	Sudo  bool   `json:"sudo,omitempty"`
	Local bool   `json:"local,omitempty"`
	// Binary is nslab's path on the host.
	Binary string `json:"binary,omitempty"`
}

func recordDir() string             { return filepath.Join(lab.StateDir, ".fleet") }
func recordPath(name string) string { return filepath.Join(recordDir(), name+".json") }

// Exists reports whether name is a lab across machines brought up here.
func Exists(name string) bool {
	_, err := os.Stat(recordPath(name))
	return err == nil
}

func readRecord(name string) (*Record, error) {
	data, err := os.ReadFile(recordPath(name))
	if err != nil {
		return nil, err
	}
	var r Record
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("lab %s: reading %s: %w", name, recordPath(name), err)
	}
	return &r, nil
}

func writeRecord(r *Record) error {
	if err := os.MkdirAll(recordDir(), 0o700); err != nil {
		return err
	}
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	tmp := recordPath(r.Lab) + ".new"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, recordPath(r.Lab))
}

// host is one machine of the lab as a command reaches it.
type host struct {
	m      *topology.Machine
	opt    *Options
	ctl    string // ControlPath directory
	binary string // nslab's path there
}

// ssh runs a shell command line on the host and returns its output.
func (h *host) ssh(ctx context.Context, stdin io.Reader, line string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, "ssh", h.sshArgs(line)...)
	cmd.Stdin = stdin
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := run(cmd)
	if err != nil {
		msg := strings.TrimSpace(out.String())
		if ee := (*exec.ExitError)(nil); errors.As(err, &ee) && ee.ExitCode() == 255 {
			if msg == "" {
				// A session on a shared connection that died says nothing.
				msg = fmt.Sprintf("the connection was lost (no answer from the host in %s)", h.opt.timeout())
			}
			return out.Bytes(), fmt.Errorf("host %s (%s): ssh failed: %s (check that `ssh %s true` works without a prompt)", h.m.Name, h.m.Where(), msg, h.m.SSH)
		}
		return out.Bytes(), fmt.Errorf("host %s (%s): %s", h.m.Name, h.m.Where(), strings.TrimPrefix(msg, "nslab: "))
	}
	return out.Bytes(), nil
}

// sshArgs are ssh's arguments to run a command line on the host: batch
// mode (no prompt), one shared connection (ControlMaster), sudo -n when
// the host says so.
func (h *host) sshArgs(line string) []string {
	var args []string
	if h.opt.SSHConfig != "" {
		args = append(args, "-F", h.opt.SSHConfig)
	}
	// A host that stops answering during a command (its cable cut, the
	// machine gone) fails the command after Timeout, not after TCP's
	// retries of many minutes: ServerAlive counts unanswered keepalives.
	alive := max(1, int(h.opt.timeout()/(3*time.Second)))
	args = append(args, "-o", "BatchMode=yes", "-o", fmt.Sprintf("ConnectTimeout=%d", max(1, int(h.opt.timeout()/time.Second))),
		"-o", fmt.Sprintf("ServerAliveInterval=%d", alive), "-o", "ServerAliveCountMax=3", "-o", "ControlMaster=auto",
		"-o", "ControlPath="+filepath.Join(h.ctl, "%C"), "-o", "ControlPersist=10", h.m.SSH, "--")
	if h.m.Sudo {
		line = "sudo -n " + line
	}
	return append(args, line)
}

// ensureBinary puts this nslab on the host unless it is there.
func (h *host) ensureBinary(ctx context.Context) error {
	self, sum, err := selfSum()
	if err != nil {
		return err
	}
	h.binary = "/var/lib/nslab/bin/nslab-" + sum
	out, err := h.ssh(ctx, nil, "test -x "+h.binary+" && echo present || echo absent")
	if err != nil {
		return err
	}
	if strings.TrimSpace(string(out)) == "present" {
		return nil
	}
	f, err := os.Open(self)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = h.ssh(ctx, f, fmt.Sprintf("sh -c 'umask 022 && mkdir -p /var/lib/nslab/bin && cat > %[1]s.part.$$ && chmod 0755 %[1]s.part.$$ && mv %[1]s.part.$$ %[1]s'", h.binary))
	if err != nil {
		return fmt.Errorf("copying nslab to %w", err)
	}
	return nil
}

var selfOnce = sync.OnceValues(func() (string, error) {
	self, err := os.Executable()
	if err != nil {
		return "", err
	}
	f, err := os.Open(self)
	if err != nil {
		return "", err
	}
	defer f.Close()
	s := sha256.New()
	if _, err := io.Copy(s, f); err != nil {
		return "", err
	}
	return self + "\x00" + hex.EncodeToString(s.Sum(nil))[:16], nil
})

func selfSum() (path, sum string, err error) {
	v, err := selfOnce()
	if err != nil {
		return "", "", fmt.Errorf("finding nslab's own binary to copy to the hosts: %w", err)
	}
	path, sum, _ = strings.Cut(v, "\x00")
	return path, sum, nil
}

// apply sends the host its envelope: checked only (check), or built.
func (h *host) apply(ctx context.Context, env *lab.Envelope, check bool) error {
	if h.m.Local {
		t, err := env.Share()
		if err != nil {
			return err
		}
		if check {
			_, _, err = lab.Plan(t, env.Source)
			return err
		}
		return lab.Up(ctx, t, env.Source, h.opt.Lab)
	}
	data, err := json.Marshal(env)
	if err != nil {
		return err
	}
	line := h.binary + " host-apply -q"
	if check {
		line += " --check"
	}
	for flag, on := range map[string]bool{" --repair": h.opt.Lab.Repair, " --replace": h.opt.Lab.Replace, " --force": h.opt.Lab.Force} {
		if on {
			line += flag
		}
	}
	line += " " + env.Lab
	_, err = h.ssh(ctx, bytes.NewReader(data), line)
	return err
}

// down removes the lab from the host.
func (h *host) down(ctx context.Context, name string) error {
	if h.m.Local {
		return lab.Down(ctx, name, h.opt.Lab)
	}
	_, err := h.ssh(ctx, nil, h.binary+" down -q "+name)
	return err
}

// each runs f on every host at once and joins the errors, by host name.
func each(hosts []*host, f func(*host) error) error {
	errs := make([]error, len(hosts))
	var wg sync.WaitGroup
	for i, h := range hosts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = f(h)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// controlDir makes a directory for shared ssh connections under this
// process's StateDir/.ssh/PID (root's alone), and removes those of
// processes that are gone (killed).
func controlDir() (string, error) {
	base, err := controlBase(filepath.Join(lab.StateDir, ".ssh"))
	if err != nil {
		return "", err
	}
	ents, _ := os.ReadDir(base)
	for _, e := range ents {
		if pid, err := strconv.Atoi(e.Name()); err == nil && syscall.Kill(pid, 0) == syscall.ESRCH {
			endMasters(filepath.Join(base, e.Name()))
			os.RemoveAll(filepath.Join(base, e.Name()))
		}
	}
	mine := filepath.Join(base, strconv.Itoa(os.Getpid()))
	if err := os.MkdirAll(mine, 0o700); err != nil {
		return "", err
	}
	dir, err := os.MkdirTemp(mine, "c")
	if err != nil {
		return "", err
	}
	return dir, giveInvoker(mine, dir)
}

// endMasters ends the shared ssh connections a killed nslab left (they
// outlive it by design), and with them the sessions they still carry: a
// share's build on its way to a host that the next down has already
// passed.
func endMasters(dir string) {
	socks, _ := filepath.Glob(filepath.Join(dir, "*", "*"))
	for _, s := range socks {
		exec.Command("ssh", "-o", "ControlPath="+s, "-O", "exit", "nslab-master").Run()
	}
}

// removeControlDir removes a directory of controlDir, and the ones above
// it that are left empty.
func removeControlDir(dir string) {
	os.RemoveAll(dir)
	os.Remove(filepath.Dir(dir))
	os.Remove(filepath.Dir(filepath.Dir(dir)))
}

func hostsOf(t *topology.Lab, opt *Options) ([]*host, func(), error) {
	ctl, err := controlDir()
	if err != nil {
		return nil, nil, err
	}
	var hosts []*host
	for _, m := range t.Machines {
		hosts = append(hosts, &host{m: m, opt: opt, ctl: ctl})
	}
	done := func() {
		for _, h := range hosts {
			if !h.m.Local {
				h.closeMaster()
			}
		}
		removeControlDir(ctl)
	}
	return hosts, done, nil
}

// closeMaster ends the host's shared ssh connection.
func (h *host) closeMaster() {
	var args []string
	if h.opt.SSHConfig != "" {
		args = append(args, "-F", h.opt.SSHConfig)
	}
	args = append(args, "-o", "ControlPath="+filepath.Join(h.ctl, "%C"), "-O", "exit", h.m.SSH)
	cmd := exec.Command("ssh", args...)
	// As the user whose ssh_config names the host (under sudo): %C is
	// computed from it.
	asInvoker(cmd)
	cmd.Run()
}

// Up brings up a lab across machines: the file is checked on every host
// (kernel features, names, claims, the machine's limits) before any host
// builds; then every host builds its share at once. If one fails, the
// lab is removed from every host it was sent to.
func Up(ctx context.Context, t *topology.Lab, opt Options) error {
	prior, err := readRecord(t.Name)
	if err == nil {
		// A running lab keeps the addresses chosen for it.
		nt, err := topology.ParseWith(t.File, t.Source, prior.Assigned)
		if err != nil {
			return err
		}
		nt.Name = t.Name
		t = nt
	} else {
		prior = nil
	}
	var pl topology.Placement
	if prior != nil {
		// and its nodes keep their hosts, but for a host: written.
		pl = topology.PlaceFrom(t, prior.Placement)
	} else {
		pl = topology.Place(t)
	}
	hosts, done, err := hostsOf(t, &opt)
	if err != nil {
		return err
	}
	defer done()
	envelope := func(h *host) *lab.Envelope {
		return &lab.Envelope{File: t.File, Source: t.Source, ShareSpec: topology.ShareSpec{
			Lab: t.Name, Host: h.m.Name, Placement: pl, Assigned: t.Assignments(), Underlays: t.Underlays()}}
	}
	opt.logf("lab %s: %d hosts: %s", t.Name, len(hosts), placementSummary(t, pl))
	if err := each(hosts, func(h *host) error {
		if h.m.Local {
			return nil
		}
		return h.ensureBinary(ctx)
	}); err != nil {
		return fmt.Errorf("lab %s: nothing was built on any host:\n%w", t.Name, err)
	}
	if err := readUnderlays(ctx, t, pl, hosts); err != nil {
		return fmt.Errorf("lab %s: nothing was built on any host:\n%w", t.Name, err)
	}
	rec := &Record{Lab: t.Name, Assigned: t.Assignments(), Placement: pl, File: t.File, Source: t.Source}
	for _, h := range hosts {
		rec.Hosts = append(rec.Hosts, HostRecord{Name: h.m.Name, SSH: h.m.SSH, Sudo: h.m.Sudo, Local: h.m.Local, Binary: h.binary})
	}
	if err := each(hosts, func(h *host) error { return h.apply(ctx, envelope(h), true) }); err != nil {
		if prior != nil {
			return fmt.Errorf("lab %s: nothing was changed on any host:\n%w", t.Name, err)
		}
		return fmt.Errorf("lab %s: nothing was built on any host:\n%w", t.Name, err)
	}
	// Hosts the lab ran on that the file no longer has stay in the
	// record until their share is removed.
	gone := goneHosts(prior, t)
	rec.Hosts = append(rec.Hosts, gone...)
	if err := writeRecord(rec); err != nil {
		return err
	}
	err = each(hosts, func(h *host) error { return h.apply(ctx, envelope(h), false) })
	if err == nil {
		return finishUp(ctx, rec, prior, gone, opt)
	}
	if prior != nil && prior.Built {
		return changeFailed(rec, err)
	}
	if opt.Lab.KeepFailed {
		return fmt.Errorf("lab %s: %w\n(kept as it is on every host: --keep-failed; nslab down %s removes it)", t.Name, err, t.Name)
	}
	if derr := Down(context.WithoutCancel(ctx), t.Name, opt); derr != nil {
		return fmt.Errorf("lab %s: %w\nremoving it from the hosts failed too: %w", t.Name, err, derr)
	}
	return fmt.Errorf("lab %s: %w\n(removed from every host)", t.Name, err)
}

func placementSummary(t *topology.Lab, pl topology.Placement) string {
	count := map[string]int{}
	for _, h := range pl {
		count[h]++
	}
	var parts []string
	for _, m := range t.Machines {
		parts = append(parts, fmt.Sprintf("%s %d", m.Name, count[m.Name]))
	}
	return strings.Join(parts, ", ") + fmt.Sprintf(" nodes; %d segments between hosts", len(topology.Crossings(t, pl)))
}

// Down removes a lab across machines from every host of its record. The
// hosts it could not remove it from stay in the record, named in the
// error; the record goes with the last.
func Down(ctx context.Context, name string, opt Options) error {
	rec, err := readRecord(name)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := forget(rec, &opt); err != nil {
		return err
	}
	t := &topology.Lab{Name: name}
	bin := map[string]string{}
	for _, hr := range rec.Hosts {
		t.Machines = append(t.Machines, &topology.Machine{Name: hr.Name, SSH: hr.SSH, Sudo: hr.Sudo, Local: hr.Local})
		bin[hr.Name] = hr.Binary
	}
	hosts, done, err := hostsOf(t, &opt)
	if err != nil {
		return err
	}
	defer done()
	var mu sync.Mutex
	left := map[string]bool{}
	pass := func(h *host) error {
		h.binary = bin[h.m.Name]
		var err error
		if !h.m.Local && h.binary == "" {
			err = h.ensureBinary(ctx)
		}
		if err == nil {
			err = h.down(ctx, name)
		}
		if err != nil {
			mu.Lock()
			left[h.m.Name] = true
			mu.Unlock()
			err = fmt.Errorf("%w\n  host %s keeps what it holds of lab %s: %s", err, h.m.Name, name, keeps(rec, h.m.Name))
		}
		return err
	}
	err = each(hosts, pass)
	if err == nil && !rec.Built {
		// The up did not finish (killed, or failed): a build sent to a
		// host by a dying nslab may land after the pass above (its ssh
		// session was under way). A second pass removes it.
		select {
		case <-ctx.Done():
		case <-time.After(2 * time.Second):
		}
		err = each(hosts, pass)
	}
	if err == nil {
		if err := os.Remove(recordPath(name)); err != nil {
			return err
		}
		os.Remove(faultsPath(name))
		// The last lab across machines takes the directory, and nslab's
		// state directory when nothing else is left in it.
		if os.Remove(recordDir()) == nil {
			os.Remove(lab.StateDir)
		}
		return nil
	}
	rec.Hosts = slices.DeleteFunc(rec.Hosts, func(hr HostRecord) bool { return !left[hr.Name] })
	if werr := writeRecord(rec); werr != nil {
		err = errors.Join(err, werr)
	}
	var still []string
	for _, hr := range rec.Hosts {
		still = append(still, hr.Name)
	}
	return fmt.Errorf("lab %s is still on %s (kept in the lab's record: nslab down %s tries again; for a host gone for good, nslab down --forget HOST %s drops it from the record):\n%w",
		name, plural(len(still), "host")+" "+strings.Join(still, ", "), name, name, err)
}

// Where says, for messages, on which hosts a lab across machines brought
// up here runs and how to see it there; "" when it is not one.
func Where(name string) string {
	rec, err := readRecord(name)
	if err != nil {
		return ""
	}
	var hosts []string
	for _, h := range rec.Hosts {
		w := "local"
		if !h.Local {
			w = "ssh " + h.SSH
		}
		hosts = append(hosts, fmt.Sprintf("%s (%s)", h.Name, w))
	}
	return fmt.Sprintf("lab %s runs across hosts %s: nslab status %s shows each host's share", name, strings.Join(hosts, ", "), name)
}
