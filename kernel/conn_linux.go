package kernel

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Conn holds, per namespace, a raw rtnetlink socket and a netlink handle,
// each opened on first use and kept until Forget or Close. It is safe for
// concurrent use.
type Conn struct {
	mu      sync.Mutex
	socks   map[string]*nsSock
	indexes indexCache // ifindexes of links that never move
	held    []int      // namespaces kept open by NetnsDel with Hold
}

// nsSock is what Conn keeps for one namespace: the raw socket, which
// nslab's own requests use, and the handle of the netlink package, opened
// when first asked for. Most stages of up need only the raw socket, and
// each socket opened in a namespace enters it and leaves it again (about
// 0.05 ms; four stages of a 10,104-node up opened two per node).
type nsSock struct {
	ns   string
	raw  *nl.SocketHandle
	once sync.Once
	h    *netlink.Handle
	err  error
}

func (s *nsSock) handle() (*netlink.Handle, error) {
	s.once.Do(func() {
		if s.ns == "" {
			s.h, s.err = netlink.NewHandleAt(netns.None(), unix.NETLINK_ROUTE)
		} else {
			fd, err := netns.GetFromPath(NetnsPath(s.ns))
			if err != nil {
				s.err = fmt.Errorf("opening namespace %s: %w", s.ns, err)
				return
			}
			defer fd.Close()
			s.h, s.err = netlink.NewHandleAt(fd, unix.NETLINK_ROUTE)
		}
		if s.err != nil {
			s.err = fmt.Errorf("opening netlink socket in %s: %w", nsLabel(s.ns), s.err)
		}
	})
	return s.h, s.err
}

func (s *nsSock) close() {
	s.once.Do(func() { s.err = fmt.Errorf("netlink socket of %s closed", nsLabel(s.ns)) }) // no handle after this
	if s.h != nil {
		s.h.Close()
	}
	s.raw.Socket.Close()
}

func init() {
	// Ask the kernel for extended error messages: they name the attribute
	// that is wrong.
	nl.EnableErrorMessageReporting = true
}

// NewConn returns a Conn with nothing opened yet.
func NewConn() *Conn {
	return &Conn{socks: make(map[string]*nsSock)}
}

// Handle returns the netlink handle bound to the named namespace under
// /run/netns, or to the root namespace for "".
func (c *Conn) Handle(ns string) (*netlink.Handle, error) {
	s, err := c.sock(ns)
	if err != nil {
		return nil, err
	}
	return s.handle()
}

func (c *Conn) sock(ns string) (*nsSock, error) {
	c.mu.Lock()
	s, ok := c.socks[ns]
	c.mu.Unlock()
	if ok {
		return s, nil
	}
	s, err := openSock(ns)
	if err != nil {
		return nil, err
	}
	return c.keep(ns, s), nil
}

// keep stores s unless another goroutine stored one first.
func (c *Conn) keep(ns string, s *nsSock) *nsSock {
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.socks[ns]; ok {
		s.close()
		return old
	}
	c.socks[ns] = s
	return s
}

func openSock(ns string) (*nsSock, error) {
	if ns == "" {
		return openSockAt(netns.None(), "")
	}
	fd, err := netns.GetFromPath(NetnsPath(ns))
	if err != nil {
		return nil, fmt.Errorf("opening namespace %s: %w", ns, err)
	}
	defer fd.Close()
	return openSockAt(fd, ns)
}

// openSockAt opens the raw socket of namespace ns, whose file is fd
// (netns.None() for the calling thread's namespace, ns "").
func openSockAt(fd netns.NsHandle, ns string) (*nsSock, error) {
	raw, err := nl.GetNetlinkSocketAt(fd, netns.None(), unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("opening netlink socket in %s: %w", nsLabel(ns), err)
	}
	raw.SetExtAck(true)
	return &nsSock{ns: ns, raw: &nl.SocketHandle{Socket: raw}}, nil
}

// exec sends a request on the namespace's raw socket and waits for the
// acknowledgement.
func (c *Conn) exec(ns string, req *nl.NetlinkRequest) error {
	s, err := c.sock(ns)
	if err != nil {
		return err
	}
	req.Sockets = map[int]*nl.SocketHandle{unix.NETLINK_ROUTE: s.raw}
	_, err = req.Execute(unix.NETLINK_ROUTE, 0)
	return err
}

// execIndex runs a request that creates a link with NLM_F_ECHO and
// returns the new link's index from the echoed message.
func (c *Conn) execIndex(ns string, req *nl.NetlinkRequest) (int32, error) {
	s, err := c.sock(ns)
	if err != nil {
		return 0, err
	}
	req.Sockets = map[int]*nl.SocketHandle{unix.NETLINK_ROUTE: s.raw}
	var index int32
	err = req.ExecuteIter(unix.NETLINK_ROUTE, unix.RTM_NEWLINK, func(m []byte) bool {
		if index == 0 {
			index = nl.DeserializeIfInfomsg(m).Index
		}
		return true
	})
	if err != nil {
		return 0, err
	}
	// ExecuteIter stops at the echo, a single message, and leaves the
	// acknowledgement behind; the next request on this socket skips it
	// by its sequence number.
	if index == 0 {
		return 0, errNoEcho
	}
	return index, nil
}

// errNoEcho is a kernel's answer to a new link without its echo: kernels
// before 6.3 ignore NLM_F_ECHO on RTM_NEWLINK (Debian 12's 6.1 does).
var errNoEcho = errors.New("the kernel did not echo the new link")

// Forget closes and drops the sockets of a namespace, as after deleting it.
func (c *Conn) Forget(ns string) {
	c.mu.Lock()
	s, ok := c.socks[ns]
	delete(c.socks, ns)
	c.mu.Unlock()
	if ok {
		s.close()
	}
	c.forgetIndexes(ns)
}

// Close closes every socket, and lets go of the namespaces it holds.
func (c *Conn) Close() {
	c.releaseHeld()
	c.mu.Lock()
	defer c.mu.Unlock()
	for ns, s := range c.socks {
		s.close()
		delete(c.socks, ns)
	}
}

// retryDump repeats a netlink dump interrupted by concurrent changes,
// such as another lab being built, backing off a little each time. While
// a big lab is being built beside it, every dump may be interrupted: then
// it returns the last one, complete but for the links that changed while
// it ran, which are racing with the caller anyway (creation still fails
// on a clash, NLM_F_EXCL).
func retryDump[T any](dump func() (T, error)) (T, error) {
	var v T
	var err error
	for i := range 10 {
		v, err = dump()
		if !errors.Is(err, netlink.ErrDumpInterrupted) {
			return v, err
		}
		time.Sleep(time.Duration(i+1) * 5 * time.Millisecond)
	}
	return v, nil
}
