package kernel

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// DoEach runs fn(i) for each i of paths in turn, in the network
// namespace at paths[i] ("" for the caller's), on one OS thread that
// enters the namespaces one after the other. It is Do for many
// namespaces at the cost of one setns each, for callers that only open
// sockets there (a socket keeps the namespace it was opened in). A
// namespace that cannot be entered is passed to fn as err, and fn(i,
// err) then runs in no particular namespace: it must not open anything.
// If the thread cannot return to its namespace, it stays locked so that
// the Go runtime discards it.
func DoEach(paths []string, fn func(i int, err error)) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		origin, err := unix.Open(threadNetns(), unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			runtime.UnlockOSThread()
			for i := range paths {
				fn(i, fmt.Errorf("opening current namespace: %w", err))
			}
			errc <- err
			return
		}
		defer unix.Close(origin)
		for i, p := range paths {
			target := origin
			if p != "" {
				fd, err := unix.Open(p, unix.O_RDONLY|unix.O_CLOEXEC, 0)
				if err != nil {
					fn(i, fmt.Errorf("opening namespace %s: %w", p, err))
					continue
				}
				target = fd
			}
			err := unix.Setns(target, unix.CLONE_NEWNET)
			if target != origin {
				unix.Close(target)
			}
			if err != nil {
				fn(i, fmt.Errorf("entering namespace %s: %w", p, err))
				continue
			}
			fn(i, nil)
		}
		if len(paths) > 0 {
			if err := unix.Setns(origin, unix.CLONE_NEWNET); err != nil {
				errc <- fmt.Errorf("returning to the original namespace: %w", err)
				return
			}
		}
		runtime.UnlockOSThread()
		errc <- nil
	}()
	return <-errc
}

// NeighConn is a route netlink socket in one network namespace for a
// check's neighbour work there: it reads links, and makes and deletes
// neighbour entries, many requests to a datagram (the kernel answers
// each in turn), where a netlink.Handle sends one request at a time
// after entering the namespace itself. Not safe for concurrent use.
type NeighConn struct {
	fd  int
	seq uint32
}

// nlBufs are the receive buffers of NeighConns, shared: a check holds
// thousands of connections, and a buffer each (64 KiB) made a check of
// 10,000 nodes spend more time clearing and faulting memory in than
// opening the sockets.
var nlBufs = sync.Pool{New: func() any { b := make([]byte, 1<<16); return &b }}

// Netlink constants that golang.org/x/sys/unix lacks.
const (
	rtextFilterSkipStats = 1 << 3 // RTEXT_FILTER_SKIP_STATS
	ndaProtocol          = 12     // NDA_PROTOCOL
)

// nlBatch is how many requests go in one datagram: their answers must
// fit the socket's receive buffer.
const nlBatch = 128

// OpenNeighConn opens a NeighConn in the calling thread's network
// namespace (see DoEach).
func OpenNeighConn() (*NeighConn, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("opening a netlink socket: %w", err)
	}
	// Acknowledgements without a copy of the request; room for a batch
	// of answers; never wait forever for an answer the kernel dropped.
	unix.SetsockoptInt(fd, unix.SOL_NETLINK, unix.NETLINK_CAP_ACK, 1)
	unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, 1<<20)
	tv := unix.Timeval{Sec: 5}
	unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	return &NeighConn{fd: fd}, nil
}

// Close closes the socket.
func (c *NeighConn) Close() error { return unix.Close(c.fd) }

// nlReq is one request of a batch.
type nlReq struct {
	typ, flags uint16
	body       []byte
}

// nlAnswer is the kernel's answer to one request: its error, and the
// reply to a get.
type nlAnswer struct {
	err   error
	reply []byte
}

// exchange sends reqs, nlBatch to a datagram, and collects an answer to
// each (all are sent with NLM_F_ACK, so each ends with an
// acknowledgement or an error).
func (c *NeighConn) exchange(reqs []nlReq) ([]nlAnswer, error) {
	out := make([]nlAnswer, len(reqs))
	for lo := 0; lo < len(reqs); lo += nlBatch {
		hi := min(lo+nlBatch, len(reqs))
		if err := c.exchangeBatch(reqs[lo:hi], out[lo:hi]); err != nil {
			return out, err
		}
	}
	return out, nil
}

func (c *NeighConn) exchangeBatch(reqs []nlReq, out []nlAnswer) error {
	base := c.seq + 1
	var msg []byte
	for _, r := range reqs {
		c.seq++
		n := unix.NLMSG_HDRLEN + len(r.body)
		h := make([]byte, unix.NLMSG_HDRLEN, nlAlign(n))
		binary.NativeEndian.PutUint32(h[0:], uint32(n))
		binary.NativeEndian.PutUint16(h[4:], r.typ)
		binary.NativeEndian.PutUint16(h[6:], r.flags|unix.NLM_F_REQUEST|unix.NLM_F_ACK)
		binary.NativeEndian.PutUint32(h[8:], c.seq)
		h = append(h, r.body...)
		msg = append(msg, h[:nlAlign(n)]...)
	}
	if err := unix.Sendto(c.fd, msg, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return fmt.Errorf("sending %d netlink requests: %w", len(reqs), err)
	}
	bp := nlBufs.Get().(*[]byte)
	defer nlBufs.Put(bp)
	buf := *bp
	left := len(reqs)
	for left > 0 {
		n, _, err := unix.Recvfrom(c.fd, buf, 0)
		if err != nil {
			return fmt.Errorf("reading netlink answers (%d of %d missing): %w", left, len(reqs), err)
		}
		msgs, err := syscall.ParseNetlinkMessage(buf[:n])
		if err != nil {
			return fmt.Errorf("parsing netlink answers: %w", err)
		}
		for _, m := range msgs {
			k := int(m.Header.Seq - base)
			if m.Header.Seq < base || k >= len(reqs) {
				continue
			}
			if m.Header.Type != unix.NLMSG_ERROR {
				out[k].reply = append([]byte(nil), m.Data...)
				continue
			}
			if len(m.Data) >= 4 {
				if e := int32(binary.NativeEndian.Uint32(m.Data)); e != 0 {
					out[k].err = unix.Errno(-e)
				}
			}
			left--
		}
	}
	return nil
}

func nlAlign(n int) int { return (n + unix.NLMSG_ALIGNTO - 1) &^ (unix.NLMSG_ALIGNTO - 1) }

// attr appends a netlink attribute to b.
func attr(b []byte, typ uint16, data []byte) []byte {
	n := unix.SizeofRtAttr + len(data)
	var h [4]byte
	binary.NativeEndian.PutUint16(h[0:], uint16(n))
	binary.NativeEndian.PutUint16(h[2:], typ)
	b = append(append(b, h[:]...), data...)
	for len(b)%unix.RTA_ALIGNTO != 0 {
		b = append(b, 0)
	}
	return b
}

// Links reads the index and MAC address of each named link, one error
// per name (nil when read).
//
// Equivalent to: ip link show NAME, for each name
func (c *NeighConn) Links(names []string) ([]LinkAddr, []error, error) {
	reqs := make([]nlReq, len(names))
	for i, name := range names {
		b := make([]byte, unix.SizeofIfInfomsg)
		b = attr(b, unix.IFLA_IFNAME, append([]byte(name), 0))
		var mask [4]byte
		binary.NativeEndian.PutUint32(mask[:], rtextFilterSkipStats)
		b = attr(b, unix.IFLA_EXT_MASK, mask[:])
		reqs[i] = nlReq{typ: unix.RTM_GETLINK, body: b}
	}
	ans, err := c.exchange(reqs)
	las := make([]LinkAddr, len(names))
	errs := make([]error, len(names))
	for i, a := range ans {
		switch {
		case a.err != nil:
			errs[i] = fmt.Errorf("reading link %s: %w", names[i], a.err)
		case len(a.reply) < unix.SizeofIfInfomsg:
			errs[i] = fmt.Errorf("reading link %s: no answer", names[i])
		default:
			las[i] = parseLink(a.reply)
		}
	}
	return las, errs, err
}

// parseLink reads an RTM_NEWLINK message's index and address.
func parseLink(b []byte) LinkAddr {
	la := LinkAddr{Index: int(int32(binary.NativeEndian.Uint32(b[4:8])))}
	for rest := b[unix.SizeofIfInfomsg:]; len(rest) >= unix.SizeofRtAttr; {
		n := int(binary.NativeEndian.Uint16(rest[0:]))
		typ := binary.NativeEndian.Uint16(rest[2:])
		if n < unix.SizeofRtAttr || n > len(rest) {
			break
		}
		if typ == unix.IFLA_ADDRESS {
			la.MAC = net.HardwareAddr(append([]byte(nil), rest[unix.SizeofRtAttr:n]...))
		}
		rest = rest[min(len(rest), (n+unix.RTA_ALIGNTO-1)&^(unix.RTA_ALIGNTO-1)):]
	}
	return la
}

// ErrNeighExists is the error AddPermanent gives for an entry that was
// there already (and that it left as it was).
var ErrNeighExists = unix.EEXIST

// AddPermanent makes permanent neighbour entries, marked as nslab's
// (protocol RouteProto), each only if the table has none for its
// address on its link yet (an entry there, learnt or someone's, is left
// alone: ErrNeighExists). Permanent entries are exempt from the
// neighbour table's garbage collection and do not count against
// gc_thresh3 (Linux 4.19 and later; the neigh_create tracepoint shows
// gc_exempt 1 and an unchanged count), so a check's entries take no room
// from other namespaces; the caller must delete them (DeleteNeighs). It
// returns one error per entry (nil when made).
//
// Equivalent to: ip neigh add ADDR lladdr MAC dev DEV nud permanent proto 78
func (c *NeighConn) AddPermanent(es []Neigh) ([]error, error) {
	reqs := make([]nlReq, len(es))
	for i, e := range es {
		b := ndmsg(e, unix.NUD_PERMANENT)
		b = attr(b, unix.NDA_LLADDR, e.MAC)
		b = attr(b, ndaProtocol, []byte{RouteProto})
		reqs[i] = nlReq{typ: unix.RTM_NEWNEIGH, flags: unix.NLM_F_CREATE | unix.NLM_F_EXCL, body: b}
	}
	return c.answers(reqs, es, "adding")
}

// DeleteNeighs deletes neighbour entries (those AddPermanent made), one
// error per entry; one already gone is no error.
//
// Equivalent to: ip neigh del ADDR dev DEV
func (c *NeighConn) DeleteNeighs(es []Neigh) ([]error, error) {
	reqs := make([]nlReq, len(es))
	for i, e := range es {
		reqs[i] = nlReq{typ: unix.RTM_DELNEIGH, body: ndmsg(e, 0)}
	}
	errs, err := c.answers(reqs, es, "deleting")
	for i := range errs {
		if errors.Is(errs[i], unix.ENOENT) {
			errs[i] = nil
		}
	}
	return errs, err
}

func (c *NeighConn) answers(reqs []nlReq, es []Neigh, what string) ([]error, error) {
	ans, err := c.exchange(reqs)
	errs := make([]error, len(es))
	for i, a := range ans {
		if a.err != nil {
			errs[i] = fmt.Errorf("%s neighbour %s on link %d: %w", what, es[i].Addr, es[i].Index, a.err)
		}
	}
	if err != nil {
		err = fmt.Errorf("%s neighbours: %w", what, err)
	}
	return errs, err
}

// ndmsg is the header of a neighbour request for e, with its NDA_DST.
func ndmsg(e Neigh, state uint16) []byte {
	b := make([]byte, unix.SizeofNdMsg)
	b[0] = unix.AF_INET
	if e.Addr.Is6() && !e.Addr.Is4In6() {
		b[0] = unix.AF_INET6
	}
	binary.NativeEndian.PutUint32(b[4:], uint32(int32(e.Index)))
	binary.NativeEndian.PutUint16(b[8:], state)
	return attr(b, unix.NDA_DST, addrBytes(e.Addr))
}

func addrBytes(a netip.Addr) []byte {
	a = a.Unmap()
	return a.AsSlice()
}
