package check

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/nslab/nslab/kernel"
	"golang.org/x/sys/unix"
)

// Ping sends ICMP / ICMPv6 echo requests from inside the network
// namespace at nsPath ("" for the caller's) to every target at once, and
// returns one Result per target, in order. Each target gets up to
// opt.Count requests opt.Interval apart until one is answered, and fails
// opt.Timeout after its first request. It opens one socket per address
// family for the whole call, so hundreds of targets take about one
// timeout at most. Per target it is like `ip netns exec NS ping -c 3
// -i 0.1 -W 1` stopping at the first reply, without any external binary.
func Ping(ctx context.Context, nsPath string, targets []Target, opt Options) []Result {
	res, _ := ping(ctx, nsPath, targets, opt)
	return res
}

// ping is Ping that also returns an error when the namespace or its
// sockets could not be set up; the results then all carry that error.
func ping(ctx context.Context, nsPath string, targets []Target, opt Options) ([]Result, error) {
	s := newSession(targets, opt.withDefaults())
	if err := s.open(nsPath); err != nil {
		s.failPending(err.Error())
		return s.results, err
	}
	defer s.close()
	s.run(ctx)
	return s.results, nil
}

// session is one Ping call. Only its run loop changes its state; the
// reader goroutines read immutable fields and report on replies.
type session struct {
	opt     Options
	targets []Target
	results []Result
	state   []probeState
	pending int
	echo    echoID
	conns   [2]*icmpConn
	ifindex map[string]int
	replies chan answer
	quit    chan struct{}
	readers sync.WaitGroup
	// out, when set, sends target i's request instead of conns (a burst
	// of many sources), and wake, when set, tells readers that are not
	// on conns to stop.
	out  func(i int, b []byte) error
	wake func()
}

// probeState tracks one target's requests.
type probeState struct {
	sent     []time.Time // by attempt
	deadline time.Time
	done     bool
	lastErr  string
}

func newSession(targets []Target, opt Options) *session {
	s := &session{
		opt:     opt,
		targets: make([]Target, len(targets)),
		results: make([]Result, len(targets)),
		state:   make([]probeState, len(targets)),
		pending: len(targets),
		ifindex: map[string]int{},
		replies: make(chan answer, 64),
		quit:    make(chan struct{}),
	}
	for i, t := range targets {
		s.results[i].Target = t
		t.Addr, t.Src = t.Addr.Unmap(), t.Src.Unmap()
		s.targets[i] = t
		if err := validTarget(t); err != "" {
			s.fail(i, err)
		}
	}
	return s
}

// validTarget returns why a target cannot be pinged, or "".
func validTarget(t Target) string {
	switch {
	case !t.Addr.IsValid():
		return "no address"
	case t.Addr.IsMulticast() || t.Addr.IsUnspecified():
		return fmt.Sprintf("%s is not a unicast address", t.Addr)
	case t.Src.IsValid() && t.Src.Is4() != t.Addr.Is4():
		return fmt.Sprintf("source %s and target %s differ in family", t.Src, t.Addr)
	}
	return ""
}

// open creates the sockets the targets need inside the namespace and
// resolves their pinned interfaces there.
func (s *session) open(nsPath string) error {
	var need [2]bool
	for i, t := range s.targets {
		if !s.state[i].done {
			need[family(t.Addr)] = true
		}
	}
	err := kernel.Do(nsPath, func() error {
		for fam, ok := range need {
			if err := s.listen(fam, ok); err != nil {
				return err
			}
		}
		s.resolveDevs()
		return nil
	})
	if err != nil {
		s.close()
		return fmt.Errorf("pinging: %w", err)
	}
	raw := s.conns[v4] == nil || s.conns[v4].raw
	s.echo = newEchoID(s.opt.Count, raw && (s.conns[v6] == nil || s.conns[v6].raw))
	return nil
}

func (s *session) listen(fam int, needed bool) error {
	if !needed {
		return nil
	}
	c, err := listenICMP(fam)
	s.conns[fam] = c
	return err
}

// resolveDevs looks up the interface index of every pinned device; a
// target whose device is missing fails rather than go out unpinned.
func (s *session) resolveDevs() {
	for i, t := range s.targets {
		if t.Dev == "" || s.state[i].done {
			continue
		}
		if _, ok := s.ifindex[t.Dev]; !ok {
			ifc, err := net.InterfaceByName(t.Dev)
			s.ifindex[t.Dev] = 0
			if err == nil {
				s.ifindex[t.Dev] = ifc.Index
			}
		}
		if s.ifindex[t.Dev] == 0 {
			s.fail(i, fmt.Sprintf("no interface %s to send from", t.Dev))
		}
	}
}

func (s *session) close() {
	for _, c := range s.conns {
		if c != nil {
			c.close()
		}
	}
}

// run sends the first requests, then handles replies, retries and
// deadlines until every target is settled or ctx ends.
func (s *session) run(ctx context.Context) {
	for _, c := range s.conns {
		if c != nil {
			s.readers.Add(1)
			go s.read(c)
		}
	}
	defer s.stopReaders()
	for i := range s.targets {
		// Each request is stamped when it goes: sending thousands (a
		// burst) takes long enough on a busy machine to outlast a
		// timeout, and the answers that came meanwhile are taken in as
		// it goes.
		s.send(i, time.Now())
		if i%64 == 63 {
			s.drain()
		}
	}
	if s.pending == 0 {
		return
	}
	// The next retry or deadline is worked out again after each tick
	// only: an answer can only put it off, and a tick with nothing due
	// does nothing, where working it out on each answer costs
	// O(targets²) for a burst of thousands.
	timer := time.NewTimer(time.Until(s.nextEvent()))
	defer timer.Stop()
	for s.pending > 0 {
		select {
		case a := <-s.replies:
			s.answered(a)
		case now := <-timer.C:
			s.drain() // answers that came before now
			s.tick(now)
			if s.pending > 0 {
				timer.Reset(time.Until(s.nextEvent()))
			}
		case <-ctx.Done():
			s.failPending(fmt.Sprintf("stopped: %v", ctx.Err()))
		}
	}
}

// drain takes in the answers that have come, without waiting.
func (s *session) drain() {
	for {
		select {
		case a := <-s.replies:
			s.answered(a)
		default:
			return
		}
	}
}

// stopReaders closes the sockets, which ends the readers.
func (s *session) stopReaders() {
	close(s.quit)
	if s.wake != nil {
		s.wake()
	}
	s.close()
	s.readers.Wait()
}

// read passes the answers to our requests from one socket to run.
func (s *session) read(c *icmpConn) {
	defer s.readers.Done()
	b := make([]byte, 1500)
	for {
		n, from, err := c.recv(b)
		if err != nil {
			return
		}
		at := time.Now()
		a, ok := s.echo.parse(c.fam, b[:n], from, s.targets)
		if !ok {
			continue
		}
		a.at = at
		select {
		case s.replies <- a:
		case <-s.quit:
			return
		}
	}
}

// send sends target i its next request, if it is still due one.
func (s *session) send(i int, now time.Time) {
	st := &s.state[i]
	attempt := len(st.sent)
	if st.done || attempt >= s.opt.Count {
		return
	}
	if attempt == 0 {
		st.deadline = now.Add(s.opt.Timeout)
	}
	st.sent = append(st.sent, now)
	t := s.targets[i]
	fam := family(t.Addr)
	b, err := s.echo.request(fam, i, attempt)
	switch {
	case err != nil:
	case s.out != nil:
		err = s.out(i, b)
	default:
		err = s.conns[fam].send(b, t.Addr, t.Src, s.ifindex[t.Dev])
	}
	if err != nil {
		s.sendFailed(i, attempt, sendErr(t, err))
	}
}

// sendFailed records a failed send. It is retried like a lost request,
// since it may be passing (a source address still tentative, a route
// being added); the last attempt's failure is final.
func (s *session) sendFailed(i, attempt int, why string) {
	s.state[i].lastErr = why
	if attempt == s.opt.Count-1 {
		s.fail(i, why)
	}
}

// sendErr describes a failed send by its errno, without the net
// package's "write ip 0.0.0.0->…: sendmsg:" decoration.
func sendErr(t Target, err error) string {
	var errno unix.Errno
	if errors.As(err, &errno) {
		err = errno
	}
	if errno == unix.EINVAL && t.Addr.Is6() {
		// ip6_finish_output2 says EINVAL when it cannot create a
		// neighbour entry, as well as for an unusable source.
		err = fmt.Errorf("%w (source address not usable, or neighbour table full: see net.ipv6.neigh.default.gc_thresh3)", err)
	}
	if t.Src.IsValid() {
		return fmt.Sprintf("sending echo request from %s: %v", t.Src, err)
	}
	return fmt.Sprintf("sending echo request: %v", err)
}

// answered records a reply, or an error report about a request.
func (s *session) answered(a answer) {
	st := &s.state[a.idx]
	if st.done || a.attempt >= len(st.sent) {
		return
	}
	if a.err != "" {
		st.lastErr = a.err
		if a.attempt == s.opt.Count-1 {
			s.fail(a.idx, a.err)
		}
		return
	}
	s.results[a.idx].OK = true
	s.results[a.idx].RTT = a.at.Sub(st.sent[a.attempt])
	s.settle(a.idx)
}

// tick fails the targets past their deadline and retries the others.
func (s *session) tick(now time.Time) {
	for i := range s.state {
		st := &s.state[i]
		switch {
		case st.done:
		case !now.Before(st.deadline):
			s.fail(i, s.timeoutErr(st))
		case !now.Before(st.sent[len(st.sent)-1].Add(s.opt.Interval)):
			s.send(i, time.Now())
		}
	}
}

func (s *session) timeoutErr(st *probeState) string {
	if st.lastErr != "" {
		return st.lastErr
	}
	return fmt.Sprintf("no reply after %v", s.opt.Timeout)
}

// nextEvent is when the next retry or deadline falls due.
func (s *session) nextEvent() time.Time {
	var next time.Time
	for i := range s.state {
		st := &s.state[i]
		if st.done {
			continue
		}
		at := st.deadline
		if len(st.sent) < s.opt.Count {
			at = earliest(at, st.sent[len(st.sent)-1].Add(s.opt.Interval))
		}
		if next.IsZero() || at.Before(next) {
			next = at
		}
	}
	return next
}

func earliest(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func (s *session) fail(i int, why string) {
	if s.state[i].done {
		return
	}
	s.results[i].Err = why
	s.settle(i)
}

func (s *session) settle(i int) {
	s.state[i].done = true
	s.pending--
}

func (s *session) failPending(why string) {
	for i := range s.state {
		s.fail(i, why)
	}
}

// forgetNeighbours deletes the neighbour entries the kernel learnt in the
// namespace at nsPath (see kernel.ForgetNeighbours), so that a probe
// finds out afresh who answers.
func forgetNeighbours(nsPath string) error { return kernel.ForgetNeighbours(nsPath) }
