package service

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nslab/nslab/kernel"
	"golang.org/x/sys/unix"
)

// sup is a lab's supervisor. Its state belongs to the goroutine of
// supervise's loop; the others (the epoll waiter, probes, timers,
// signals, stops) send it events.
type sup struct {
	lab   string
	spec  Spec
	bo    BackoffPolicy
	svcs  map[string]*svc
	order []*svc
	ep    int
	fds   map[int32]*svc
	ev    chan any
	j     *journal
	logs  *logCap
	dirty bool
	flush *time.Timer
	// stopWait counts the stops under way (stopAsync).
	stopWait sync.WaitGroup
	// base is the mount namespace the services' own are copied from
	// (kernel.MountBase); nil copies the host's.
	base *kernel.MountBase
}

// svc is one service as the supervisor runs it.
type svc struct {
	def     Def
	st      ServiceState
	pidfd   int // -1 when it does not run
	child   bool
	started time.Time
	// deadline is when a service that was never ready fails; zero once
	// it was ready.
	deadline time.Time
	fails    int // restarts since the last stable run
	// epoch grows with every start and stop: late timers and probes of
	// an earlier run are ignored.
	epoch     int
	cancel    context.CancelFunc
	lastProbe atomic.Pointer[string]
	// replaces is the process of an earlier definition, being stopped:
	// v starts once it has ended.
	replaces *svc
}

type (
	exitEv  struct{ fd int32 }
	probeEv struct {
		s     *svc
		epoch int
	}
	restartEv  probeEv
	deadlineEv probeEv
	flushEv    struct{}
	stoppedEv  struct {
		vs    []*svc
		exits []string
		then  func()
	}
)

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, time.Now().UTC().Format("2006-01-02T15:04:05.000Z ")+format+"\n", args...)
}

// supervise runs the lab's supervisor until it is told to stop (SIGTERM)
// or has nothing left to run. It returns the process's exit status.
func supervise(lab string) int {
	lock, err := os.OpenFile(lockFile(lab), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		logf("lab %s: %v", lab, err)
		return 1
	}
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		logf("lab %s: another supervisor holds %s; leaving it the lab", lab, lockFile(lab))
		return 0
	}
	// Signals are taken before the pid file names this process: Apply
	// sends SIGHUP to the pid it finds there.
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, unix.SIGHUP, unix.SIGTERM, unix.SIGINT)
	st, _ := startTime(os.Getpid())
	if err := os.WriteFile(pidFile(lab), fmt.Appendf(nil, "%d %d\n", os.Getpid(), st), 0o600); err != nil {
		logf("lab %s: %v", lab, err)
		return 1
	}
	ep, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		logf("lab %s: epoll: %v", lab, err)
		return 1
	}
	s := &sup{lab: lab, svcs: map[string]*svc{}, ep: ep, fds: map[int32]*svc{},
		ev: make(chan any, 4096), j: openJournal(lab), bo: DefaultBackoff}
	s.logs, err = newLogCap(DefaultLogCap)
	if err != nil {
		logf("lab %s: watching logs: %v", lab, err)
		return 1
	}
	if s.base, err = kernel.NewMountBase(); err != nil {
		logf("lab %s: %v; services copy the host's mount namespace", lab, err)
		s.base = nil
	}
	go s.waitExits()
	logf("lab %s: supervisor %d started", lab, os.Getpid())
	s.adopt()
	logf("lab %s: adopted %d services", lab, len(s.order))
	if !s.reload() {
		return s.exit()
	}
	for {
		select {
		case sig := <-sigs:
			if sig != unix.SIGHUP {
				return s.exit()
			}
			if !s.reload() {
				return s.exit()
			}
		case e := <-s.ev:
			s.handle(e)
		}
	}
}

// exit stops every service in the reverse order of after:, writes the
// final state and removes the pid file.
func (s *sup) exit() int {
	var run []*svc
	for _, v := range s.order {
		v.epoch++
		if v.cancel != nil {
			v.cancel()
		}
		if v.pidfd >= 0 && v.st.State != Stopping {
			run = append(run, v)
		}
	}
	s.stopAll(run)
	s.drainStops()
	s.save()
	os.Remove(pidFile(s.lab))
	logf("lab %s: supervisor %d ends", s.lab, os.Getpid())
	return 0
}

// drainStops waits for the stops under way (stopAsync) and takes in
// their ends.
func (s *sup) drainStops() {
	done := make(chan struct{})
	go func() { s.stopWait.Wait(); close(done) }()
	for {
		select {
		case e := <-s.ev:
			if st, ok := e.(stoppedEv); ok {
				s.stopped(st.vs, st.exits)
			}
		case <-done:
			for {
				select {
				case e := <-s.ev:
					if st, ok := e.(stoppedEv); ok {
						s.stopped(st.vs, st.exits)
					}
				default:
					return
				}
			}
		}
	}
}

// waitExits is the one goroutine that waits for the services to end:
// one epoll over all their pidfds (one-shot: an exit is told once).
func (s *sup) waitExits() {
	evs := make([]unix.EpollEvent, 128)
	for {
		n, err := unix.EpollWait(s.ep, evs, -1)
		if err != nil {
			if err == unix.EINTR {
				continue
			}
			logf("lab %s: epoll_wait: %v", s.lab, err)
			return
		}
		for _, e := range evs[:n] {
			s.ev <- exitEv{fd: e.Fd}
		}
	}
}

func (s *sup) watch(v *svc) {
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLONESHOT, Fd: int32(v.pidfd)}
	if err := unix.EpollCtl(s.ep, unix.EPOLL_CTL_ADD, v.pidfd, &ev); err != nil {
		logf("lab %s: watching %s: %v", s.lab, v.def.ref(), err)
	}
	s.fds[int32(v.pidfd)] = v
}

// forget stops watching v's process and closes its pidfd.
func (s *sup) forget(v *svc) {
	if v.pidfd < 0 {
		return
	}
	unix.EpollCtl(s.ep, unix.EPOLL_CTL_DEL, v.pidfd, nil)
	delete(s.fds, int32(v.pidfd))
	unix.Close(v.pidfd)
	v.pidfd = -1
}

func (s *sup) handle(e any) {
	switch e := e.(type) {
	case exitEv:
		v := s.fds[e.fd]
		// A late event of a pidfd closed since, whose number a new one
		// took, is told apart: the new one is not readable.
		if v == nil || !exited(v.pidfd, 0) {
			return
		}
		s.exited(v)
	case probeEv:
		if e.epoch == e.s.epoch && e.s.pidfd >= 0 {
			s.ready(e.s)
		}
	case restartEv:
		if e.epoch == e.s.epoch && e.s.st.State == Backoff {
			s.start(e.s)
		}
	case deadlineEv:
		if e.epoch == e.s.epoch && !e.s.st.WasReady {
			s.notReady(e.s)
		}
	case flushEv:
		if s.dirty {
			s.save()
		}
	case stoppedEv:
		s.stopped(e.vs, e.exits)
		if e.then != nil {
			e.then()
		}
		s.kick()
	}
}

// changed marks the state to be written: within 20 ms, once for every
// change in that time (1000 services starting write it a few times, not
// 1000).
func (s *sup) changed() {
	if s.dirty {
		return
	}
	s.dirty = true
	s.flush = time.AfterFunc(20*time.Millisecond, func() { s.ev <- flushEv{} })
}

func (s *sup) save() {
	s.dirty = false
	st := State{Lab: s.lab, Generation: s.spec.Generation, Supervisor: os.Getpid()}
	for _, v := range s.order {
		ss := v.st
		if r := v.replaces; r != nil && r.pidfd >= 0 {
			// Until the process of the earlier definition has ended, the
			// service shows it: stopping, with its pid.
			// The new definition is not ready yet.
			ss = r.st
			ss.Digest, ss.Ready, ss.WasReady = v.st.Digest, false, false
		}
		st.Services = append(st.Services, ss)
	}
	if err := writeJSON(stateFile(s.lab), st); err != nil {
		logf("lab %s: %v", s.lab, err)
	}
}

// adopt takes in the services that a supervisor before this one started
// and that still run (same pid and start time), as state.json lists them.
// Processes of the lab's services that it does not list (started by a
// supervisor killed before it wrote them down) are ended: the spec's
// services are started anew.
func (s *sup) adopt() {
	var st State
	readJSON(stateFile(s.lab), &st)
	defer s.endOrphans()
	for _, ss := range st.Services {
		fd := openProc(ss.PID, ss.StartTime)
		if fd < 0 {
			continue // gone: started anew if the spec has it
		}
		v := &svc{def: Def{Node: ss.Node, Name: ss.Name, Digest: ss.Digest}, st: ss, pidfd: fd, started: ss.Since}
		s.watch(v)
		logf("lab %s: adopted %s, pid %d", s.lab, v.def.ref(), ss.PID)
		s.j.add(Event{Lab: s.lab, Kind: "service-adopt", Service: v.def.ref(), PID: ss.PID})
		s.svcs[v.def.ref()] = v
		s.order = append(s.order, v)
	}
}

// reload takes in spec.json: services whose digest is unchanged keep
// running; changed ones are stopped and started anew, removed ones
// stopped, new ones started once what they come after is ready. It
// reports whether there is anything left to supervise.
func (s *sup) reload() bool {
	spec, err := readSpec(s.lab)
	if err != nil {
		logf("lab %s: %v", s.lab, err)
		return true
	}
	s.spec = spec
	s.bo = DefaultBackoff
	if spec.Backoff != nil {
		s.bo = *spec.Backoff
	}
	s.logs.limit.Store(cmpOr(spec.LogCap, DefaultLogCap))
	var stop []*svc
	next := map[string]*svc{}
	var order []*svc
	for _, d := range spec.Services {
		old := s.svcs[d.ref()]
		if old != nil && old.def.Digest == d.Digest && old.st.State != Failed && !old.st.EndedInFailure() {
			old.def = d
			next[d.ref()], order = old, append(order, old)
			continue
		}
		v := &svc{def: d, pidfd: -1, st: ServiceState{Node: d.Node, Name: d.Name, State: Waiting, Digest: d.Digest, Since: time.Now()}}
		if old != nil && old.pidfd >= 0 {
			stop = append(stop, old)
			v.replaces = old // starts once old has ended
		}
		next[d.ref()], order = v, append(order, v)
	}
	for _, old := range s.order {
		if next[old.def.ref()] != old {
			old.epoch++ // its timers and probes are void
			if old.cancel != nil {
				old.cancel()
			}
		}
		if next[old.def.ref()] == nil && old.pidfd >= 0 {
			stop = append(stop, old)
		}
	}
	s.stopAsync(stop, nil)
	s.svcs, s.order = next, order
	for _, v := range order {
		s.logs.add(LogPath(s.lab, v.def.Node, v.def.Name))
	}
	start := time.Now()
	s.kick()
	s.save()
	logf("lab %s: generation %d taken in: %d services, %d stopped, started in %v", s.lab, spec.Generation, len(order), len(stop), time.Since(start).Round(time.Millisecond))
	return len(order) > 0
}

func cmpOr[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// kick starts the services that wait and whose after: are all ready.
func (s *sup) kick() {
	var now []*svc
	for _, v := range s.order {
		if v.st.State != Waiting || v.replaces != nil && v.replaces.pidfd >= 0 {
			continue
		}
		if why := s.blockers(v); why != "" {
			if v.st.Reason != why {
				v.st.Reason = why
				s.changed()
			}
			continue
		}
		now = append(now, v)
	}
	if len(now) > 0 {
		s.startMany(now)
	}
}

// noteBlocked updates the reasons of the services that wait (which
// services of their after: are not ready, in which state) without
// starting any.
func (s *sup) noteBlocked() {
	for _, v := range s.order {
		if v.st.State != Waiting {
			continue
		}
		if why := s.blockers(v); why != "" && why != v.st.Reason {
			v.st.Reason = why
			s.changed()
		}
	}
}

// blockers says which services of v's after: are not ready yet, with
// their states ("waits for db/pg (failed), web/cache (starting)"); "" when
// all are.
func (s *sup) blockers(v *svc) string {
	var not []string
	for _, r := range v.def.After {
		switch d := s.svcs[r]; {
		case d == nil:
			not = append(not, r+" (not defined)")
		case !d.st.WasReady:
			not = append(not, r+" ("+d.st.State+")")
		}
	}
	if len(not) == 0 {
		return ""
	}
	return "waits for " + strings.Join(not, ", ")
}

// endOrphans ends the processes that lead a session and carry the lab's
// NSLAB_LAB in their environment, as the services this package starts
// do, but are not adopted.
func (s *sup) endOrphans() {
	known := map[int]bool{}
	for _, v := range s.order {
		known[v.st.PID] = true
	}
	spec, _ := readSpec(s.lab)
	var ts []target
	for _, o := range orphans(s.lab, known) {
		fd := openProc(o.pid, o.start)
		if fd < 0 {
			continue
		}
		t := target{ref: o.ref, pid: o.pid, pidfd: fd}
		for _, d := range spec.Services {
			if d.ref() == o.ref {
				t.sig, t.grace = d.StopSignal, d.StopGrace
			}
		}
		logf("lab %s: ending pid %d of %s, which no state of the lab lists", s.lab, o.pid, o.ref)
		ts = append(ts, t)
	}
	for i, how := range stopTargets(ts) {
		s.j.add(Event{Lab: s.lab, Kind: "service-orphan", Service: ts[i].ref, PID: ts[i].pid, Detail: how})
		unix.Close(ts[i].pidfd)
	}
}
