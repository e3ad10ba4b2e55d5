package kernel

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// A dump of links can come in datagrams larger than the netlink
// package's 64 KiB receive buffer, which then truncates them: its
// LinkList fails with "invalid argument" or panics on a slice bound. The
// kernel sizes each datagram of an RTM_GETLINK dump to hold the largest
// link of the namespace (rtnl_calcit: if_nlmsg_size of every link), then
// packs as many links as fit: one link with many altnames (up to 64 KiB
// of them), VF lists or the like makes every datagram of the dump that
// big. LinkList reads them whole.

// dumpTimeout bounds the wait for each datagram of a dump, like the
// netlink package's socket timeout.
const dumpTimeout = 60 * time.Second

// LinkList lists the links of a namespace ("" the root one), as
// netlink's LinkList does, on the namespace's raw socket, reading each
// datagram whole whatever its size. A dump interrupted by concurrent
// changes returns what it read with netlink.ErrDumpInterrupted.
//
// Equivalent to: ip -n NS -d link show
func (c *Conn) LinkList(ns string) ([]netlink.Link, error) {
	s, err := c.sock(ns)
	if err != nil {
		return nil, err
	}
	req := nl.NewNetlinkRequest(unix.RTM_GETLINK, unix.NLM_F_DUMP)
	req.AddData(nl.NewIfInfomsg(unix.AF_UNSPEC))
	req.AddData(nl.NewRtAttr(unix.IFLA_EXT_MASK, nl.Uint32Attr(nl.RTEXT_FILTER_VF)))
	var links []netlink.Link
	err = dump(s.raw, req, unix.RTM_NEWLINK, func(m []byte) error {
		l, err := netlink.LinkDeserialize(nil, m)
		if err != nil {
			return err
		}
		links = append(links, l)
		return nil
	})
	if err != nil && !errors.Is(err, netlink.ErrDumpInterrupted) {
		return nil, err
	}
	return links, err
}

// dump sends a dump request on sh's socket and passes the payload of
// each answer of type typ to f, reading each datagram whole (see
// recvWhole). It holds the socket's lock, as the netlink package's
// requests on a shared socket do, and skips what answers other requests.
func dump(sh *nl.SocketHandle, req *nl.NetlinkRequest, typ uint16, f func([]byte) error) error {
	sock := sh.Socket
	sock.Lock()
	defer sock.Unlock()
	req.Seq = atomic.AddUint32(&sh.Seq, 1)
	if err := sock.Send(req); err != nil {
		return err
	}
	pid, err := sock.GetPid()
	if err != nil {
		return err
	}
	var buf []byte
	interrupted := false
	for {
		var n int
		buf, n, err = recvWhole(sock.GetFd(), buf)
		if err != nil {
			return err
		}
		msgs, err := syscall.ParseNetlinkMessage(buf[:n])
		if err != nil {
			return fmt.Errorf("parsing a %d-byte netlink datagram: %w", n, err)
		}
		for _, m := range msgs {
			if m.Header.Seq != req.Seq || m.Header.Pid != pid {
				continue // the end of an earlier request
			}
			if m.Header.Flags&unix.NLM_F_DUMP_INTR != 0 {
				interrupted = true
			}
			switch m.Header.Type {
			case unix.NLMSG_DONE, unix.NLMSG_ERROR:
				if len(m.Data) >= 4 {
					if e := int32(binary.NativeEndian.Uint32(m.Data)); e != 0 {
						return syscall.Errno(-e)
					}
				}
				if interrupted {
					return netlink.ErrDumpInterrupted
				}
				return nil
			case typ:
				if err := f(m.Data); err != nil {
					return err
				}
			}
		}
	}
}

// recvWhole reads the next datagram of a non-blocking netlink socket into
// buf, grown to the datagram's size first (MSG_PEEK|MSG_TRUNC tells it,
// as iproute2's rtnl_recvmsg asks), and returns buf and the length read.
func recvWhole(fd int, buf []byte) ([]byte, int, error) {
	if len(buf) == 0 {
		buf = make([]byte, 64<<10)
	}
	for {
		n, _, err := unix.Recvfrom(fd, buf, unix.MSG_PEEK|unix.MSG_TRUNC)
		switch {
		case err == unix.EAGAIN:
			if err := waitReadable(fd); err != nil {
				return buf, 0, err
			}
			continue
		case err == unix.EINTR:
			continue
		case err != nil:
			return buf, 0, err
		}
		if n > len(buf) {
			buf = make([]byte, n)
		}
		n, _, err = unix.Recvfrom(fd, buf, 0)
		if err != nil {
			return buf, 0, err
		}
		return buf, n, nil
	}
}

// waitReadable waits until fd has something to read.
func waitReadable(fd int) error {
	deadline := time.Now().Add(dumpTimeout)
	for {
		left := time.Until(deadline)
		if left <= 0 {
			return fmt.Errorf("no answer from the kernel in %v", dumpTimeout)
		}
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		_, err := unix.Poll(fds, int(left/time.Millisecond)+1)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		if fds[0].Revents != 0 {
			return nil
		}
	}
}
