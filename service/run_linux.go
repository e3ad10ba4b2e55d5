package service

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/nslab/nslab/kernel"
	"github.com/nslab/nslab/topology"
	"golang.org/x/sys/unix"
)

// startWorkers bounds the services started at once: starting is mostly
// the kernel's work (fork, namespaces, exec), which a few threads share
// across the cores.
const startWorkers = 4

// start starts v inside its node.
func (s *sup) start(v *svc) { s.startMany([]*svc{v}) }

// startMany starts vs inside their nodes, a few at once: each in its own
// session and process group, output appended to its log, the
// environment of the supervisor plus NSLAB_LAB, NSLAB_NODE,
// NSLAB_SERVICE, NSLAB_DIR and the file's env.
func (s *sup) startMany(vs []*svc) {
	for _, v := range vs {
		v.epoch++
		v.st.State = Starting // not started twice by a kick meanwhile
	}
	res := make([]launched, len(vs))
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(len(vs), startWorkers) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				res[i] = s.launch(vs[i])
			}
		}()
	}
	for i := range vs {
		next <- i
	}
	close(next)
	wg.Wait()
	for i, v := range vs {
		s.started(v, res[i])
	}
}

// launched is a service's process, started, or why it could not be.
type launched struct {
	pid, fd int
	at      time.Time // when it was started
	err     error
}

// launch starts v's process and opens its pidfd. It reads only v.def
// and the spec: it runs on several goroutines at once.
func (s *sup) launch(v *svc) launched {
	cmd, err := s.command(v)
	if err == nil {
		err = kernel.StartFrom(s.base, v.def.Netns, s.spec.Holder, cmd, s.spec.EtcFiles...)
		cmd.Stdout.(*os.File).Close()
	}
	if err != nil {
		return launched{err: fmt.Errorf("cannot start: %w", err)}
	}
	pid := cmd.Process.Pid
	fd, err := unix.PidfdOpen(pid, 0)
	cmd.Process.Release()
	if err != nil {
		unix.Kill(-pid, unix.SIGKILL)
		return launched{err: fmt.Errorf("cannot watch pid %d: %w", pid, err)}
	}
	return launched{pid: pid, fd: fd, at: time.Now()}
}

// started takes in a launched process: watched, probed for readiness.
func (s *sup) started(v *svc, r launched) {
	if r.err != nil {
		s.fail(v, r.err.Error())
		return
	}
	v.pidfd, v.child, v.started = r.fd, true, r.at
	st, _ := startTime(r.pid)
	v.st.PID, v.st.StartTime, v.st.Since = r.pid, st, v.started
	v.st.State, v.st.Ready, v.st.Reason = Starting, false, ""
	s.watch(v)
	s.j.add(Event{Time: r.at, Lab: s.lab, Kind: "service-start", Service: v.def.ref(), PID: r.pid})
	if v.def.Ready == nil {
		s.ready(v)
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	v.cancel = cancel
	go s.probe(ctx, v, v.epoch)
	if !v.st.WasReady && v.deadline.IsZero() {
		v.deadline = v.started.Add(cmpOr(v.def.Ready.Timeout, 30*time.Second))
		e := deadlineEv{s: v, epoch: v.epoch}
		time.AfterFunc(time.Until(v.deadline), func() { s.ev <- e })
	}
	s.changed()
}

// command builds the service's process, not started yet.
func (s *sup) command(v *svc) (*exec.Cmd, error) {
	d := v.def
	if len(d.Command) == 0 {
		return nil, fmt.Errorf("no command")
	}
	pathList := servicePath(d.Env)
	path, err := lookPath(d.Command[0], pathList)
	if err != nil {
		return nil, err
	}
	env := []string{"PATH=" + pathList, "HOME=" + cmpOr(os.Getenv("HOME"), "/root"),
		"NSLAB_LAB=" + s.lab, "NSLAB_NODE=" + d.Node, "NSLAB_SERVICE=" + d.Name, "NSLAB_DIR=" + NodeDir(s.lab, d.Node)}
	attr := &syscall.SysProcAttr{Setsid: true}
	if d.User != "" {
		cred, home, err := lookupUser(d.User)
		if err != nil {
			return nil, err
		}
		attr.Credential = cred
		env = append(env, "HOME="+home, "USER="+d.User, "LOGNAME="+d.User)
	}
	env = append(env, d.Env...)
	logPath := LogPath(s.lab, d.Node, d.Name)
	if err := os.MkdirAll(filepath.Dir(logPath), 0o700); err != nil {
		return nil, err
	}
	out, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	return &exec.Cmd{Path: path, Args: d.Command, Env: env, Dir: cmpOr(d.Dir, NodeDir(s.lab, d.Node)),
		Stdout: out, Stderr: out, SysProcAttr: attr}, nil
}

// servicePath is the PATH of a service: the one its env sets, or
// topology.ServicePath; not that of whoever ran up.
func servicePath(env []string) string {
	p := topology.ServicePath
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			p = v
		}
	}
	return p
}

// lookPath finds a program named without a slash in pathList; a path is
// taken as written (a relative one against the service's directory).
func lookPath(prog, pathList string) (string, error) {
	if strings.Contains(prog, "/") {
		return prog, nil
	}
	for _, dir := range filepath.SplitList(pathList) {
		p := filepath.Join(cmpOr(dir, "."), prog)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s: not found in PATH %s", prog, pathList)
}

// lookupUser resolves a user name or numeric uid.
func lookupUser(name string) (*syscall.Credential, string, error) {
	u, err := user.Lookup(name)
	if err != nil {
		if _, nerr := strconv.Atoi(name); nerr != nil {
			return nil, "", err
		}
		if u, err = user.LookupId(name); err != nil {
			n, _ := strconv.Atoi(name)
			return &syscall.Credential{Uid: uint32(n), Gid: uint32(n)}, "/", nil
		}
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	cred := &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	if ids, err := u.GroupIds(); err == nil {
		for _, g := range ids {
			if n, err := strconv.Atoi(g); err == nil {
				cred.Groups = append(cred.Groups, uint32(n))
			}
		}
	}
	return cred, u.HomeDir, nil
}

// ready marks v ready; the services that came after it may start.
func (s *sup) ready(v *svc) {
	if v.cancel != nil {
		v.cancel()
		v.cancel = nil
	}
	v.st.State, v.st.Ready, v.st.WasReady = Running, true, true
	v.deadline = time.Time{}
	s.j.add(Event{Lab: s.lab, Kind: "service-ready", Service: v.def.ref(), PID: v.st.PID})
	s.changed()
	s.kick()
}

// fail gives up on v: it is not restarted until the next up.
func (s *sup) fail(v *svc, reason string) {
	v.epoch++
	if v.cancel != nil {
		v.cancel()
		v.cancel = nil
	}
	v.st.State, v.st.Ready, v.st.Reason, v.st.PID, v.st.StartTime = Failed, false, reason, 0, 0
	v.st.Since = time.Now()
	logf("lab %s: %s failed: %s", s.lab, v.def.ref(), reason)
	s.j.add(Event{Lab: s.lab, Kind: "service-failed", Service: v.def.ref(), Detail: reason})
	s.changed()
	s.noteBlocked()
}

// notReady ends a service that did not become ready in time.
func (s *sup) notReady(v *svc) {
	reason := fmt.Sprintf("not ready after %v", cmpOr(v.def.Ready.Timeout, 30*time.Second))
	if p := v.lastProbe.Load(); p != nil {
		reason += " (" + *p + ")"
	}
	if v.pidfd < 0 {
		s.fail(v, reason)
		return
	}
	s.stopAsync([]*svc{v}, func() { s.fail(v, reason) })
}

// exited handles the end of v's process: its exit is reaped (a child of
// this supervisor) and v is restarted as its policy says, at once the
// first time, then after a growing delay (BackoffPolicy).
func (s *sup) exited(v *svc) {
	exit := "exited (status unknown: started by an earlier supervisor)"
	pid := v.st.PID
	if v.child {
		// What it left in its group, while its zombie holds the pid (and
		// so the group's id): no other process can have taken it.
		unix.Kill(-pid, unix.SIGKILL)
		if e, ok := reap(v.pidfd); ok {
			exit = e
		}
	}
	s.forget(v)
	v.epoch++
	if v.cancel != nil {
		v.cancel()
		v.cancel = nil
	}
	now := time.Now()
	ran := now.Sub(v.started)
	v.st.Exit, v.st.PID, v.st.StartTime, v.st.Ready, v.st.Since = exit, 0, 0, false, now
	s.j.add(Event{Lab: s.lab, Kind: "service-exit", Service: v.def.ref(), PID: pid, Detail: exit})
	if ran >= s.bo.Reset {
		v.fails = 0
	}
	restart := v.def.Restart == "always" || v.def.Restart == "on-failure" && exit != "exit status 0"
	if !restart {
		v.st.State = Exited
		s.changed()
		return
	}
	delay := time.Duration(0)
	if v.fails > 0 {
		delay = min(s.bo.First<<(v.fails-1), s.bo.Max)
		if v.fails > 40 {
			delay = s.bo.Max
		}
	}
	v.fails++
	v.st.Restarts++
	v.st.State = Backoff
	if delay == 0 {
		s.start(v)
		return
	}
	e := restartEv{s: v, epoch: v.epoch}
	time.AfterFunc(delay, func() { s.ev <- e })
	s.changed()
}

// stopAll stops the running services of vs in the reverse order of
// after: and reaps them, and returns when they have ended.
func (s *sup) stopAll(vs []*svc) {
	exits := stopTargets(s.stopping(vs))
	s.stopped(vs, exits)
}

// stopAsync stops vs as stopAll does, on a goroutine of its own: the
// supervisor goes on watching the others meanwhile. then runs on the
// supervisor's loop once they have ended.
func (s *sup) stopAsync(vs []*svc, then func()) {
	if len(vs) == 0 {
		if then != nil {
			then()
		}
		return
	}
	ts := s.stopping(vs)
	s.stopWait.Add(1)
	go func() {
		defer s.stopWait.Done()
		s.ev <- stoppedEv{vs: vs, exits: stopTargets(ts), then: then}
	}()
}

// stopping marks vs as being stopped: no longer watched by the loop
// (their exits are the stop's), their timers and probes void.
func (s *sup) stopping(vs []*svc) []target {
	var ts []target
	for _, v := range vs {
		v.epoch++
		if v.cancel != nil {
			v.cancel()
			v.cancel = nil
		}
		v.st.State = Stopping
		unix.EpollCtl(s.ep, unix.EPOLL_CTL_DEL, v.pidfd, nil)
		delete(s.fds, int32(v.pidfd))
		ts = append(ts, target{ref: v.def.ref(), pid: v.st.PID, pidfd: v.pidfd, child: v.child,
			sig: v.def.StopSignal, grace: v.def.StopGrace, after: v.def.After})
	}
	s.changed()
	return ts
}

// stopped takes in the ends of vs, stopped.
func (s *sup) stopped(vs []*svc, exits []string) {
	for i, v := range vs {
		s.j.add(Event{Lab: s.lab, Kind: "service-stop", Service: v.def.ref(), PID: v.st.PID, Detail: exits[i]})
		unix.Close(v.pidfd)
		v.pidfd = -1
		v.st.State, v.st.Exit, v.st.PID, v.st.StartTime, v.st.Ready, v.st.Since = Stopped, exits[i], 0, 0, false, time.Now()
	}
	s.changed()
}
