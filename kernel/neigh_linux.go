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

// Prime makes neighbour entries in the namespace at nsPath, in state
// noarp: packets to them go out at once, without a solicitation, and
// the kernel never probes them. They count against gc_thresh3 like
// learnt ones, but with no timer running a noarp entry that no one holds
// is the first the kernel evicts when the table fills (neigh_forced_gc),
// whatever its age: the table makes room by itself. Unprime removes
// those that are left; Forget, like ForgetNeighbours, leaves them.
//
// Equivalent to: ip -n NS neigh replace ADDR lladdr MAC dev DEV nud noarp
func (n *Neighbours) Prime(nsPath string, es []Neigh) error {
	h, err := n.handle(nsPath)
	if err != nil {
		return err
	}
	for _, e := range es {
		nb := &netlink.Neigh{LinkIndex: e.Index, IP: e.Addr.AsSlice(), HardwareAddr: e.MAC, State: netlink.NUD_NOARP}
		if err := h.NeighSet(nb); err != nil {
			return fmt.Errorf("%s: adding neighbour %s at %s: %w", nsPath, e.Addr, e.MAC, err)
		}
	}
	return nil
}

// Unprime deletes the entries es of the namespace at nsPath that are
// still there (made by Prime: the kernel may have evicted some), then
// closes its handle. It lists the namespace's entries first, which needs
// no lock, and deletes only those found: a deletion takes the kernel's
// rtnl lock even for an entry that is gone.
//
// Equivalent to: ip -n NS neigh del ADDR dev DEV
func (n *Neighbours) Unprime(nsPath string, es []Neigh) error {
	h, err := n.handle(nsPath)
	if err != nil {
		return err
	}
	defer n.close(nsPath)
	type key struct {
		index int
		addr  netip.Addr
	}
	there := map[key]bool{}
	for _, fam := range []int{netlink.FAMILY_V4, netlink.FAMILY_V6} {
		ns, err := h.NeighList(0, fam)
		if err != nil {
			return fmt.Errorf("listing neighbours in %s: %w", nsPath, err)
		}
		for _, nb := range ns {
			if a, ok := netip.AddrFromSlice(nb.IP); ok && nb.State == netlink.NUD_NOARP {
				there[key{nb.LinkIndex, a.Unmap()}] = true
			}
		}
	}
	var errs []error
	for _, e := range es {
		if !there[key{e.Index, e.Addr.Unmap()}] {
			continue
		}
		nb := &netlink.Neigh{LinkIndex: e.Index, IP: e.Addr.AsSlice()}
		if err := h.NeighDel(nb); err != nil && !errors.Is(err, unix.ENOENT) {
			errs = append(errs, fmt.Errorf("%s: deleting neighbour %s: %w", nsPath, e.Addr, err))
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
