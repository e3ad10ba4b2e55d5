package kernel

import (
	"errors"
	"fmt"
	"sync"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// Conn holds one netlink handle per namespace, opened on first use and
// kept until Close. It is safe for concurrent use; callers should still
// send the operations of one namespace from one goroutine at a time.
type Conn struct {
	mu      sync.Mutex
	handles map[string]*netlink.Handle
}

// NewConn returns a Conn with no handle opened yet.
func NewConn() *Conn {
	return &Conn{handles: make(map[string]*netlink.Handle)}
}

// Handle returns the netlink handle bound to the named namespace under
// /run/netns, or to the root namespace for "".
func (c *Conn) Handle(ns string) (*netlink.Handle, error) {
	c.mu.Lock()
	h, ok := c.handles[ns]
	c.mu.Unlock()
	if ok {
		return h, nil
	}
	h, err := openHandle(ns)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.handles[ns]; ok {
		h.Close()
		return old, nil
	}
	c.handles[ns] = h
	return h, nil
}

func openHandle(ns string) (*netlink.Handle, error) {
	if ns == "" {
		h, err := netlink.NewHandle()
		if err != nil {
			return nil, fmt.Errorf("opening netlink socket: %w", err)
		}
		return h, nil
	}
	fd, err := netns.GetFromPath(NetnsPath(ns))
	if err != nil {
		return nil, fmt.Errorf("opening namespace %s: %w", ns, err)
	}
	defer fd.Close()
	h, err := netlink.NewHandleAt(fd)
	if err != nil {
		return nil, fmt.Errorf("opening netlink socket in namespace %s: %w", ns, err)
	}
	return h, nil
}

// Forget closes and drops the handle of a namespace, as after deleting it.
func (c *Conn) Forget(ns string) {
	c.mu.Lock()
	h, ok := c.handles[ns]
	delete(c.handles, ns)
	c.mu.Unlock()
	if ok {
		h.Close()
	}
}

// Close closes every handle.
func (c *Conn) Close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for ns, h := range c.handles {
		h.Close()
		delete(c.handles, ns)
	}
}

// retryDump repeats a netlink dump interrupted by concurrent changes.
func retryDump[T any](dump func() (T, error)) (T, error) {
	var v T
	var err error
	for range 5 {
		v, err = dump()
		if !errors.Is(err, netlink.ErrDumpInterrupted) {
			return v, err
		}
	}
	return v, err
}
