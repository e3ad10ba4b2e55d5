package kernel

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Neighbours does a check's neighbour work in many namespaces: it reads
// the interfaces that answer for addresses, fills neighbour tables
// before probes and empties them after, through one netlink handle per
// namespace, opened on first use and closed by Forget. It is safe for
// concurrent use, one goroutine per namespace at a time.
type Neighbours struct {
	mu sync.Mutex
	hs map[string]*netlink.Handle
}

// NewNeighbours returns a Neighbours with nothing opened yet.
func NewNeighbours() *Neighbours {
	return &Neighbours{hs: map[string]*netlink.Handle{}}
}

// LinkAddr is a link's index and MAC address.
type LinkAddr struct {
	Index int
	MAC   net.HardwareAddr
}

// Neigh is a neighbour entry to make: on link Index, Addr is at MAC.
type Neigh struct {
	Index int
	Addr  netip.Addr
	MAC   net.HardwareAddr
}

func (n *Neighbours) handle(nsPath string) (*netlink.Handle, error) {
	n.mu.Lock()
	h, ok := n.hs[nsPath]
	n.mu.Unlock()
	if ok {
		return h, nil
	}
	fd, err := netns.GetFromPath(nsPath)
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", nsPath, err)
	}
	defer fd.Close()
	h, err = netlink.NewHandleAt(fd, unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("netlink in %s: %w", nsPath, err)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if old, ok := n.hs[nsPath]; ok {
		h.Close()
		return old, nil
	}
	n.hs[nsPath] = h
	return h, nil
}

// Link reads the index and MAC address of the link named name in the
// namespace at nsPath.
//
// Equivalent to: ip -n NS link show NAME
func (n *Neighbours) Link(nsPath, name string) (LinkAddr, error) {
	h, err := n.handle(nsPath)
	if err != nil {
		return LinkAddr{}, err
	}
	l, err := h.LinkByName(name)
	if err != nil {
		return LinkAddr{}, fmt.Errorf("%s: reading link %s: %w", nsPath, name, err)
	}
	return LinkAddr{Index: l.Attrs().Index, MAC: l.Attrs().HardwareAddr}, nil
}

// Prime makes neighbour entries in the namespace at nsPath, reachable at
// once, so that packets to them go out without a solicitation. They are
// ordinary entries: they count against gc_thresh3, and their timer keeps
// them from eviction while they are fresh, as a learnt entry's does
// (noarp entries, which have no timer, were tried: when other
// namespaces keep the table above gc_thresh2, the kernel evicts them
// on the next entry it makes, before the probes use them). Forget
// removes them. Each entry is tried; the error joins those that failed
// (a full table: ENOBUFS).
//
// Equivalent to: ip -n NS neigh replace ADDR lladdr MAC dev DEV nud reachable
func (n *Neighbours) Prime(nsPath string, es []Neigh) error {
	h, err := n.handle(nsPath)
	if err != nil {
		return err
	}
	var errs []error
	for _, e := range es {
		nb := &netlink.Neigh{LinkIndex: e.Index, IP: e.Addr.AsSlice(), HardwareAddr: e.MAC, State: netlink.NUD_REACHABLE}
		if err := h.NeighSet(nb); err != nil {
			errs = append(errs, fmt.Errorf("%s: adding neighbour %s at %s: %w", nsPath, e.Addr, e.MAC, err))
		}
	}
	return errors.Join(errs...)
}

// Forget deletes the neighbour entries of the namespace at nsPath but
// the permanent ones, as ForgetNeighbours does, then closes its handle.
func (n *Neighbours) Forget(nsPath string) error {
	h, err := n.handle(nsPath)
	if err != nil {
		return err
	}
	defer n.close(nsPath)
	return forgetNeighbours(h, nsPath)
}

func (n *Neighbours) close(nsPath string) {
	n.mu.Lock()
	h, ok := n.hs[nsPath]
	delete(n.hs, nsPath)
	n.mu.Unlock()
	if ok {
		h.Close()
	}
}

// Close closes every handle still open.
func (n *Neighbours) Close() {
	n.mu.Lock()
	defer n.mu.Unlock()
	for p, h := range n.hs {
		h.Close()
		delete(n.hs, p)
	}
}
