package check

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nslab/nslab/kernel"
	"github.com/nslab/nslab/topology"
	"golang.org/x/sys/unix"
)

// A burst sends the probes of a wave, from all their sources, at once.
// The sockets it needs (two raw ICMP sockets in each source, a netlink
// socket in each node it primes) are opened in one pass over the
// namespaces (kernel.DoEach: one setns each, no thread or handle per
// node), kept by their descriptors, and polled by one epoll; the
// requests go out from one goroutine and the answers are matched by
// their echo id, sequence and nonce, and by the socket they came to.
// Measured against a session per source node (Ping's way) in
// docs/kernel-notes.md (Probing).

// visit is one namespace a burst opens sockets in.
type visit struct {
	path   string
	groups []int // source groups probing from here
	wantNC bool  // a netlink socket, for priming
	nc     *kernel.NeighConn
	// wantLearn asks for a packet socket, learn, for learning frames.
	wantLearn bool
	learn     int
	err       error
}

// visits are a burst's namespaces, by path.
type visits struct {
	list   []*visit
	byPath map[string]*visit
}

func (v *visits) at(path string) *visit {
	if x, ok := v.byPath[path]; ok {
		return x
	}
	x := &visit{path: path, learn: -1}
	v.byPath[path] = x
	v.list = append(v.list, x)
	return x
}

// open visits every namespace, two threads at a time, and runs fn in
// each that could be entered, after opening its netlink socket if
// wanted.
func (v *visits) open(fn func(*visit)) {
	half := (len(v.list) + 1) / 2
	var wg sync.WaitGroup
	for _, part := range [][]*visit{v.list[:half], v.list[half:]} {
		if len(part) == 0 {
			continue
		}
		paths := make([]string, len(part))
		for i, x := range part {
			paths[i] = x.path
		}
		wg.Go(func() {
			err := kernel.DoEach(paths, func(i int, err error) {
				x := part[i]
				if x.err = err; err != nil {
					return
				}
				if x.wantNC {
					x.nc, x.err = kernel.OpenNeighConn()
				}
				if x.wantLearn && x.err == nil {
					x.learn, _ = openLearner() // without it, floods
				}
				fn(x)
			})
			if err != nil {
				for _, x := range part {
					x.err = cmpErr(x.err, err)
				}
			}
		})
	}
	wg.Wait()
}

func cmpErr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

func (v *visits) close() {
	for _, x := range v.list {
		if x.nc != nil {
			x.nc.Close()
		}
		if x.learn >= 0 {
			unix.Close(x.learn)
		}
	}
}

// burst is the probing of one wave: a session over all its targets,
// each sent from its source group's sockets.
type burst struct {
	*session
	group  []int32       // source group of each target
	socks  [][2]*rawICMP // by group and family
	ifidx  []int         // resolved pinned interface of each target
	byFd   map[int32]sockRef
	epfd   int
	wakefd int
	slow   []bool  // groups left to Ping's way (no raw socket)
	gerr   []error // what kept a group's probes from being sent
	mu     sync.Mutex
}

type sockRef struct {
	group int32
	c     *rawICMP
}

// burst probes idx of r.Probes in one go, priming their neighbours
// first when pr is set, and returns the errors that kept probes from
// being sent, by source, and whether the neighbour entries it primed
// (and any the kernel learnt where it could not prime) are gone after.
func (r *Report) burst(ctx context.Context, idx []int, nsPath func(string) string, opt Options, pr *primer) ([]error, bool) {
	groups := bySource(r.Probes, idx)
	var targets []Target
	b := &burst{
		group: make([]int32, 0, len(idx)),
		socks: make([][2]*rawICMP, len(groups)),
		slow:  make([]bool, len(groups)),
		gerr:  make([]error, len(groups)),
		byFd:  map[int32]sockRef{},
		epfd:  -1, wakefd: -1,
	}
	vs := &visits{byPath: map[string]*visit{}}
	for gi, g := range groups {
		for _, i := range g.idx {
			targets = append(targets, target(r.Probes[i].Probe, opt))
			b.group = append(b.group, int32(gi))
		}
		path := nsPath(g.from)
		if path == "" && g.from != topology.HostNode {
			b.gerr[gi] = errNoNamespace
			continue
		}
		x := vs.at(path)
		x.groups = append(x.groups, gi)
	}
	b.session = newSession(targets, opt)
	b.echo = newEchoID(opt.Count, true)
	b.replies = make(chan answer, 1024)
	b.ifidx = make([]int, len(targets))
	var pw *primeWave
	if pr != nil {
		pw = pr.plan(r.Probes, idx, vs)
	}
	first := groupStarts(groups)
	vs.open(func(x *visit) {
		for _, gi := range x.groups {
			b.openGroup(gi, first[gi], first[gi+1])
		}
	})
	defer vs.close()
	for _, x := range vs.list {
		for _, gi := range x.groups {
			if x.err != nil && b.gerr[gi] == nil {
				b.gerr[gi] = fmt.Errorf("pinging: %w", x.err)
			}
		}
	}
	for gi := range groups {
		if b.gerr[gi] != nil || b.slow[gi] {
			for k := first[gi]; k < first[gi+1]; k++ {
				if b.gerr[gi] != nil {
					b.fail(k, groupErr(groups[gi], b.gerr[gi]).Error())
				} else {
					b.settle(k) // probed Ping's way below
				}
			}
		}
	}
	if pw != nil {
		pw.readLinks(opt.Workers)
		pw.prime(opt.Workers)
		opt.step("primed %d entries", len(pw.entries))
		pw.teach()
		opt.step("sent %d learning frames", len(pw.learn))
	}
	if err := b.poll(); err != nil {
		b.failPending(err.Error())
	}
	b.run(ctx)
	b.closeSocks()
	opt.step("probed %d targets", len(targets))
	clean := true
	if pw != nil {
		clean = pw.forget(opt.Workers)
		opt.step("forgot the wave's entries")
	}
	errs := make([]error, len(groups))
	for gi, g := range groups {
		if b.slow[gi] {
			errs[gi] = r.probeGroup(ctx, g, nsPath, opt)
			continue
		}
		if b.gerr[gi] != nil {
			errs[gi] = fmt.Errorf("node %s: %w", g.from, b.gerr[gi])
			if b.gerr[gi] == errNoNamespace {
				errs[gi] = groupErr(g, b.gerr[gi])
			}
		}
		for k, i := range g.idx {
			res := b.results[first[gi]+k]
			r.Probes[i].OK, r.Probes[i].RTT, r.Probes[i].Err = res.OK, res.RTT, res.Err
		}
	}
	return errs, clean
}

var errNoNamespace = errors.New("no namespace to probe from")

// groupErr is the error its probes carry when a group could not send:
// as Ping says it ("pinging: ..."), or naming the node for a missing
// namespace.
func groupErr(g group, err error) error {
	if err == errNoNamespace {
		return fmt.Errorf("node %s: %w", g.from, err)
	}
	return err
}

// groupStarts returns where each group's targets start in a burst, and
// their end.
func groupStarts(gs []group) []int {
	out := make([]int, len(gs)+1)
	for i, g := range gs {
		out[i+1] = out[i] + len(g.idx)
	}
	return out
}

// openGroup opens, in the calling thread's namespace, the raw sockets
// that targets lo to hi of group gi need, and resolves their pinned
// interfaces there. Without the privilege for raw sockets the group is
// left to Ping's way (ping sockets).
func (b *burst) openGroup(gi, lo, hi int) {
	var need [2]bool
	for k := lo; k < hi; k++ {
		if !b.state[k].done {
			need[family(b.targets[k].Addr)] = true
		}
	}
	var any *rawICMP
	for fam, ok := range need {
		if !ok {
			continue
		}
		c, err := openRawICMP(fam)
		if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) {
			b.slow[gi] = true
			return
		}
		if err != nil {
			b.gerr[gi] = fmt.Errorf("pinging: %w", err)
			return
		}
		b.socks[gi][fam], any = c, c
	}
	for k := lo; k < hi; k++ {
		t := b.targets[k]
		if t.Dev == "" || b.state[k].done || any == nil {
			continue
		}
		if b.ifidx[k] = any.ifIndex(t.Dev); b.ifidx[k] == 0 {
			b.mu.Lock()
			b.fail(k, fmt.Sprintf("no interface %s to send from", t.Dev))
			b.mu.Unlock()
		}
	}
}

// poll puts every socket in one epoll, with an eventfd to stop the
// reader, and starts the reader.
func (b *burst) poll() error {
	var err error
	if b.epfd, err = unix.EpollCreate1(unix.EPOLL_CLOEXEC); err != nil {
		return fmt.Errorf("pinging: epoll: %w", err)
	}
	if b.wakefd, err = unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK); err != nil {
		return fmt.Errorf("pinging: eventfd: %w", err)
	}
	add := func(fd int) error {
		return unix.EpollCtl(b.epfd, unix.EPOLL_CTL_ADD, fd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(fd)})
	}
	if err := add(b.wakefd); err != nil {
		return fmt.Errorf("pinging: epoll: %w", err)
	}
	for gi, ss := range b.socks {
		for _, c := range ss {
			if c == nil {
				continue
			}
			if err := add(c.fd); err != nil {
				return fmt.Errorf("pinging: epoll: %w", err)
			}
			b.byFd[int32(c.fd)] = sockRef{int32(gi), c}
		}
	}
	b.out = b.sendTarget
	b.wake = func() { unix.Write(b.wakefd, []byte{1, 0, 0, 0, 0, 0, 0, 0}) }
	b.readers.Add(1)
	go b.read()
	return nil
}

func (b *burst) sendTarget(k int, req []byte) error {
	t := b.targets[k]
	return b.socks[b.group[k]][family(t.Addr)].send(req, t.Addr, t.Src, b.ifidx[k])
}

// read passes the answers that come to the burst's sockets to run,
// until woken.
func (b *burst) read() {
	defer b.readers.Done()
	events := make([]unix.EpollEvent, 256)
	buf := make([]byte, 1500)
	for {
		n, err := unix.EpollWait(b.epfd, events, -1)
		if err != nil && err != unix.EINTR {
			return
		}
		for _, ev := range events[:max(n, 0)] {
			if int(ev.Fd) == b.wakefd {
				return
			}
			ref, ok := b.byFd[ev.Fd]
			if !ok {
				continue
			}
			if !b.drain(ref, buf) {
				return
			}
		}
	}
}

// drain reads what is queued on one socket; false when the burst is
// over.
func (b *burst) drain(ref sockRef, buf []byte) bool {
	for {
		m, from, err := ref.c.recv(buf)
		if err == unix.EAGAIN || err == unix.EWOULDBLOCK {
			return true
		}
		if err == errShort || err == unix.EINTR {
			continue
		}
		if err != nil {
			return true
		}
		at := time.Now()
		a, ok := b.echo.parse(ref.c.fam, m, from, b.targets)
		if !ok || b.group[a.idx] != ref.group {
			continue
		}
		a.at = at
		select {
		case b.replies <- a:
		case <-b.quit:
			return false
		}
	}
}

// closeSocks closes the raw sockets, the epoll and the eventfd, once
// the reader has stopped.
func (b *burst) closeSocks() {
	for _, ss := range b.socks {
		for _, c := range ss {
			if c != nil {
				c.close()
			}
		}
	}
	for _, fd := range []int{b.epfd, b.wakefd} {
		if fd >= 0 {
			unix.Close(fd)
		}
	}
}
