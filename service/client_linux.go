package service

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"time"

	"golang.org/x/sys/unix"
)

// Apply hands spec to the lab's supervisor, starting one when none runs
// (the running binary, re-executed as SupervisorName: see the package
// documentation), and returns once the supervisor has taken it in:
// unchanged services keep running, changed ones are started anew. A spec
// without services and no supervisor running starts none: it stops what
// a killed supervisor left (Stop).
func Apply(ctx context.Context, spec Spec) error {
	pid, _ := running(spec.Lab)
	if pid == 0 && len(spec.Services) == 0 {
		// What a killed supervisor left running is stopped all the same.
		return Stop(ctx, spec.Lab)
	}
	if err := mkdirs(spec); err != nil {
		return err
	}
	if err := writeJSON(specFile(spec.Lab), spec); err != nil {
		return err
	}
	var died <-chan struct{}
	if pid == 0 {
		var err error
		if died, err = startSupervisor(spec.Lab); err != nil {
			return err
		}
	} else if err := unix.Kill(pid, unix.SIGHUP); err != nil {
		return fmt.Errorf("lab %s: telling the supervisor (pid %d) of the change: %w", spec.Lab, pid, err)
	}
	taken := func() bool {
		var st State
		return readJSON(stateFile(spec.Lab), &st) == nil && st.Generation >= spec.Generation
	}
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !taken() {
		gone := false
		select {
		case <-ctx.Done():
			return fmt.Errorf("lab %s: waiting for the supervisor to take in the services: %w", spec.Lab, ctx.Err())
		case <-died:
			gone = true
		case <-tick.C:
			if died == nil {
				p, _ := running(spec.Lab)
				gone = p == 0
			}
		}
		// A supervisor left with nothing to run ends once it wrote so.
		if gone && !taken() {
			return supervisorDied(spec.Lab)
		}
		if gone {
			return nil
		}
	}
	return nil
}

func supervisorDied(lab string) error {
	return fmt.Errorf("lab %s: the services' supervisor ended; its log %s says:\n  %s", lab, supLog(lab), tailJoin(supLog(lab)))
}

func tailJoin(path string) string {
	lines := tail(path, 5)
	if len(lines) == 0 {
		return "(nothing)"
	}
	s := lines[0]
	for _, l := range lines[1:] {
		s += "\n  " + l
	}
	return s
}

// startSupervisor starts the lab's supervisor, detached: a session of its
// own, stdin and stdout on /dev/null, stderr appended to supervisor.log.
// The returned channel is closed when it ends (and was reaped).
func startSupervisor(lab string) (<-chan struct{}, error) {
	logf, err := os.OpenFile(supLog(lab), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lab %s: %w", lab, err)
	}
	defer logf.Close()
	cmd := &exec.Cmd{Path: "/proc/self/exe", Args: []string{SupervisorName, lab, StateDir()}, Dir: "/",
		Stderr: logf, SysProcAttr: &unix.SysProcAttr{Setsid: true}}
	fmt.Fprintf(logf, "%s starting the supervisor\n", time.Now().UTC().Format("2006-01-02T15:04:05.000Z"))
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("lab %s: starting the services' supervisor: %w", lab, err)
	}
	died := make(chan struct{})
	go func() { cmd.Wait(); close(died) }()
	return died, nil
}

// WaitReady waits until every service of generation gen is ready (or was,
// and ended as its policy allows), or one fails (a *NotReadyError, with
// the last lines of its log).
func WaitReady(ctx context.Context, lab string, gen int64) error {
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		var st State
		err := readJSON(stateFile(lab), &st)
		if err == nil && st.Generation >= gen {
			done, err := judge(lab, st)
			if done || err != nil {
				return err
			}
		}
		if p, _ := running(lab); p == 0 {
			// It may have ended with everything done: the state says.
			if err := readJSON(stateFile(lab), &st); err == nil && st.Generation >= gen {
				if done, err := judge(lab, st); done || err != nil {
					return err
				}
			}
			return supervisorDied(lab)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("lab %s: waiting for its services to be ready: %w", lab, ctx.Err())
		case <-tick.C:
		}
	}
}

// judge reports whether every service is ready, or the first that
// failed.
func judge(lab string, st State) (bool, error) {
	done := true
	for _, s := range st.Services {
		switch {
		case s.State == Failed:
			return true, notReady(lab, s, s.Reason)
		case s.State == Exited && !s.WasReady:
			return true, notReady(lab, s, "ended ("+s.Exit+") before it was ready")
		case s.Ready || s.WasReady:
		default:
			done = false
		}
	}
	return done, nil
}

func notReady(lab string, s ServiceState, reason string) error {
	return &NotReadyError{Service: ref(s.Node, s.Name), Reason: reason, LogTail: tail(LogPath(lab, s.Node, s.Name), 10)}
}

// Stop ends every service of the lab in the reverse order of after:
// (stop signal, grace, SIGKILL) and then the supervisor. The supervisor
// does it when one runs; what is left after it (or without one: killed)
// is ended from state.json, each process checked by pid and start time,
// and so are the processes of the lab's services that no state lists,
// found by their environment (NSLAB_LAB, NSLAB_NODE, NSLAB_SERVICE).
// It is bounded: the sum of the stop graces and a few seconds.
func Stop(ctx context.Context, lab string) error {
	spec, _ := readSpec(lab)
	var all []target
	for _, d := range spec.Services {
		all = append(all, target{ref: d.ref(), grace: d.StopGrace, after: d.After})
	}
	bound := stopBound(all) + 5*time.Second
	var errs []error
	if pid, st := running(lab); pid != 0 {
		if fd := openProc(pid, st); fd >= 0 {
			unix.Kill(pid, unix.SIGTERM)
			if !exited(fd, bound) {
				errs = append(errs, fmt.Errorf("lab %s: the services' supervisor (pid %d) did not end in %v; killed", lab, pid, bound))
				unix.PidfdSendSignal(fd, unix.SIGKILL, nil, 0)
				exited(fd, killWait)
			}
			unix.Close(fd)
		}
	}
	var st State
	if err := readJSON(stateFile(lab), &st); err != nil && !os.IsNotExist(err) {
		errs = append(errs, err)
	}
	defs := map[string]Def{}
	for _, d := range spec.Services {
		defs[d.ref()] = d
	}
	var ts []target
	add := func(r string, pid int, start uint64) {
		if fd := openProc(pid, start); fd >= 0 {
			d := defs[r]
			ts = append(ts, target{ref: r, pid: pid, pidfd: fd, sig: d.StopSignal, grace: d.StopGrace, after: d.After})
		}
	}
	known := map[int]bool{}
	for _, s := range st.Services {
		add(ref(s.Node, s.Name), s.PID, s.StartTime)
		known[s.PID] = true
	}
	// And those that no state lists (a supervisor killed right after it
	// started them), found by their environment.
	for _, o := range orphans(lab, known) {
		add(o.ref, o.pid, o.start)
	}
	stopTargets(ts)
	for _, t := range ts {
		if !exited(t.pidfd, 0) {
			errs = append(errs, fmt.Errorf("lab %s: service %s (pid %d) still runs after SIGKILL", lab, t.ref, t.pid))
		}
		unix.Close(t.pidfd)
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	return nil
}

// StopIn stops the services of the lab that run in the namespaces
// spaces, through its supervisor: the spec it runs, less them. Without a
// supervisor it does nothing (their processes end with their nodes).
func StopIn(ctx context.Context, lab string, spaces []string) error {
	if pid, _ := running(lab); pid == 0 {
		return nil
	}
	spec, err := readSpec(lab)
	if err != nil {
		return err
	}
	n := len(spec.Services)
	spec.Services = slices.DeleteFunc(spec.Services, func(d Def) bool { return slices.Contains(spaces, d.Netns) })
	if len(spec.Services) == n {
		return nil
	}
	spec.Generation++
	return Apply(ctx, spec)
}
