package check

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"unsafe"

	"golang.org/x/sys/unix"
)

// rawICMP is a raw ICMP or ICMPv6 socket used through its descriptor:
// a burst polls many of them with one epoll, with no goroutine, no
// duplicate descriptor and no runtime poller registration each.
type rawICMP struct {
	fd, fam int
}

// openRawICMP opens a raw socket of family fam in the calling thread's
// network namespace, filtered to echo replies and the errors that may
// quote a request.
func openRawICMP(fam int) (*rawICMP, error) {
	domain, proto := unix.AF_INET, unix.IPPROTO_ICMP
	if fam == v6 {
		domain, proto = unix.AF_INET6, unix.IPPROTO_ICMPV6
	}
	fd, err := unix.Socket(domain, unix.SOCK_RAW|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, proto)
	if err != nil {
		return nil, fmt.Errorf("opening raw %s socket: %w", famName(fam), err)
	}
	c := &rawICMP{fd: fd, fam: fam}
	if err := c.filter(); err != nil {
		unix.Close(fd)
		return nil, err
	}
	return c, nil
}

// ICMP types the filters let through.
const (
	icmpEchoReply   = 0
	icmpUnreach     = 3
	icmpTimeExc     = 11
	icmp6Unreach    = 1
	icmp6TimeExc    = 3
	icmp6EchoReply  = 129
	solRaw          = 255 // SOL_RAW
	icmpFilterOpt   = 1   // ICMP_FILTER
	icmp6FilterSize = 32  // struct icmp6_filter
)

// filter blocks every ICMP type but echo reply, destination unreachable
// and time exceeded (a set bit blocks its type, for both families).
func (c *rawICMP) filter() error {
	var err error
	if c.fam == v4 {
		pass := uint32(1<<icmpEchoReply | 1<<icmpUnreach | 1<<icmpTimeExc)
		err = unix.SetsockoptInt(c.fd, solRaw, icmpFilterOpt, int(int32(^pass)))
	} else {
		var f [8]uint32
		for i := range f {
			f[i] = ^uint32(0)
		}
		for _, t := range []int{icmp6EchoReply, icmp6Unreach, icmp6TimeExc} {
			f[t>>5] &^= 1 << (t & 31)
		}
		b := make([]byte, icmp6FilterSize)
		for i, w := range f {
			binary.NativeEndian.PutUint32(b[4*i:], w)
		}
		err = unix.SetsockoptString(c.fd, unix.SOL_ICMPV6, unix.ICMPV6_FILTER, string(b))
	}
	if err != nil {
		return fmt.Errorf("setting %s filter: %w", famName(c.fam), err)
	}
	return nil
}

// ifIndex returns the index of the interface named dev in the socket's
// namespace, or 0 (an ioctl, where net.InterfaceByName dumps every link
// of the namespace).
func (c *rawICMP) ifIndex(dev string) int {
	ifr, err := unix.NewIfreq(dev)
	if err != nil || unix.IoctlIfreq(c.fd, unix.SIOCGIFINDEX, ifr) != nil {
		return 0
	}
	return int(ifr.Uint32())
}

// send writes one request to dst, from src and out of interface ifindex
// when they are set (IP_PKTINFO / IPV6_PKTINFO).
func (c *rawICMP) send(b []byte, dst, src netip.Addr, ifindex int) error {
	var sa unix.Sockaddr
	var oob []byte
	if c.fam == v4 {
		sa = &unix.SockaddrInet4{Addr: dst.As4()}
		if src.IsValid() || ifindex != 0 {
			info := unix.Inet4Pktinfo{Ifindex: int32(ifindex)}
			if src.IsValid() {
				info.Spec_dst = src.As4()
			}
			oob = cmsg(unix.IPPROTO_IP, unix.IP_PKTINFO, unsafe.Pointer(&info), unix.SizeofInet4Pktinfo)
		}
	} else {
		sa = &unix.SockaddrInet6{Addr: dst.As16()}
		if src.IsValid() || ifindex != 0 {
			info := unix.Inet6Pktinfo{Ifindex: uint32(ifindex)}
			if src.IsValid() {
				info.Addr = src.As16()
			}
			oob = cmsg(unix.IPPROTO_IPV6, unix.IPV6_PKTINFO, unsafe.Pointer(&info), unix.SizeofInet6Pktinfo)
		}
	}
	return unix.Sendmsg(c.fd, b, oob, sa, 0)
}

// cmsg builds one control message carrying n bytes at p.
func cmsg(level, typ int, p unsafe.Pointer, n int) []byte {
	b := make([]byte, unix.CmsgSpace(n))
	h := (*unix.Cmsghdr)(unsafe.Pointer(&b[0]))
	h.Level, h.Type = int32(level), int32(typ)
	h.SetLen(unix.CmsgLen(n))
	copy(b[unix.CmsgLen(0):], unsafe.Slice((*byte)(p), n))
	return b
}

// recv reads one ICMP message (the IPv4 header taken off) and its
// sender; unix.EAGAIN when none is queued.
func (c *rawICMP) recv(b []byte) ([]byte, netip.Addr, error) {
	n, sa, err := unix.Recvfrom(c.fd, b, 0)
	if err != nil {
		return nil, netip.Addr{}, err
	}
	m := b[:n]
	var from netip.Addr
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		from = netip.AddrFrom4(a.Addr)
		if len(m) < 20 {
			return nil, from, errShort
		}
		m = m[min(len(m), int(m[0]&0x0f)*4):]
	case *unix.SockaddrInet6:
		from = netip.AddrFrom16(a.Addr).Unmap()
	}
	return m, from, nil
}

var errShort = errors.New("short ICMP packet")

func (c *rawICMP) close() { unix.Close(c.fd) }

// A learning frame teaches a bridge where a MAC address is, as any
// frame from it does, and goes nowhere: its destination is its own
// source, which the bridge then finds on the port it came in by, and it
// does not send a frame back out of its port. Sent before a wave from
// each interface that its probes are sent to, it spares each of those
// probes a flood to every port of the bridge (a bridge forgets an
// address after ageing_time, 300 s: a sampled pair of a big lab is new
// to it). The ethertype is IEEE 802's local experimental one.
const learnEthertype = 0x88b5

// openLearner opens a packet socket, for learning frames, in the calling
// thread's namespace. It receives nothing (protocol 0).
func openLearner() (int, error) {
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("opening a packet socket: %w", err)
	}
	return fd, nil
}

// sendLearn sends a learning frame out of interface ifindex, whose MAC
// address is mac.
func sendLearn(fd, ifindex int, mac []byte) error {
	if len(mac) != 6 {
		return fmt.Errorf("MAC address %x is not Ethernet", mac)
	}
	f := make([]byte, 60)
	copy(f[0:6], mac)
	copy(f[6:12], mac)
	binary.BigEndian.PutUint16(f[12:], learnEthertype)
	sa := &unix.SockaddrLinklayer{Ifindex: ifindex, Halen: 6}
	copy(sa.Addr[:], mac)
	return unix.Sendto(fd, f, 0, sa)
}
