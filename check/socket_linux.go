package check

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"
)

// rcvBuf is the receive buffer asked for each socket, so that hundreds of
// replies arriving at once are not dropped.
const rcvBuf = 4 << 20

// icmpConn is one ICMP or ICMPv6 socket, bound to the namespace it was
// opened in. It is a raw socket, or an unprivileged ping socket when raw
// sockets are not allowed.
type icmpConn struct {
	fam int
	raw bool
	c   net.PacketConn
	p4  *ipv4.PacketConn
	p6  *ipv6.PacketConn
}

// listenICMP opens a socket of family fam in the calling thread's
// network namespace.
func listenICMP(fam int) (*icmpConn, error) {
	fd, raw, err := socketICMP(fam)
	if err != nil {
		return nil, err
	}
	growRcvBuf(fd)
	f := os.NewFile(uintptr(fd), "icmp")
	c, err := net.FilePacketConn(f)
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("wrapping ICMP socket: %w", err)
	}
	ic := &icmpConn{fam: fam, raw: raw, c: c}
	if fam == v4 {
		ic.p4 = ipv4.NewPacketConn(c)
	} else {
		ic.p6 = ipv6.NewPacketConn(c)
	}
	if err := ic.filter(); err != nil {
		c.Close()
		return nil, err
	}
	return ic, nil
}

// socketICMP opens a raw ICMP socket, falling back to a ping socket
// (SOCK_DGRAM, subject to net.ipv4.ping_group_range) without privilege.
func socketICMP(fam int) (int, bool, error) {
	domain, proto := unix.AF_INET, unix.IPPROTO_ICMP
	if fam == v6 {
		domain, proto = unix.AF_INET6, unix.IPPROTO_ICMPV6
	}
	const flags = unix.SOCK_NONBLOCK | unix.SOCK_CLOEXEC
	fd, err := unix.Socket(domain, unix.SOCK_RAW|flags, proto)
	if err == nil {
		return fd, true, nil
	}
	if !errors.Is(err, unix.EPERM) && !errors.Is(err, unix.EACCES) {
		return -1, false, fmt.Errorf("opening raw %s socket: %w", famName(fam), err)
	}
	fd, err = unix.Socket(domain, unix.SOCK_DGRAM|flags, proto)
	if err != nil {
		return -1, false, fmt.Errorf("opening %s ping socket (no privilege for a raw one): %w", famName(fam), err)
	}
	return fd, false, nil
}

func famName(fam int) string {
	if fam == v6 {
		return "ICMPv6"
	}
	return "ICMP"
}

// growRcvBuf enlarges the receive buffer, beyond rmem_max when allowed.
// Failure only costs retries.
func growRcvBuf(fd int) {
	if unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, rcvBuf) != nil {
		unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, rcvBuf)
	}
}

// filter lets a raw socket receive only echo replies and the errors
// that may quote our requests. Ping sockets filter by themselves.
func (c *icmpConn) filter() error {
	if !c.raw {
		return nil
	}
	var err error
	if c.fam == v4 {
		var f ipv4.ICMPFilter
		f.SetAll(true)
		f.Accept(ipv4.ICMPTypeEchoReply)
		f.Accept(ipv4.ICMPTypeDestinationUnreachable)
		f.Accept(ipv4.ICMPTypeTimeExceeded)
		err = c.p4.SetICMPFilter(&f)
	} else {
		var f ipv6.ICMPFilter
		f.SetAll(true)
		f.Accept(ipv6.ICMPTypeEchoReply)
		f.Accept(ipv6.ICMPTypeDestinationUnreachable)
		f.Accept(ipv6.ICMPTypeTimeExceeded)
		err = c.p6.SetICMPFilter(&f)
	}
	if err != nil {
		return fmt.Errorf("setting %s filter: %w", famName(c.fam), err)
	}
	return nil
}

// send writes one request to dst, from src and out of interface ifindex
// when they are set (IP_PKTINFO / IPV6_PKTINFO).
func (c *icmpConn) send(b []byte, dst, src netip.Addr, ifindex int) error {
	var to net.Addr = &net.IPAddr{IP: dst.AsSlice()}
	if !c.raw {
		to = &net.UDPAddr{IP: dst.AsSlice()}
	}
	var err error
	switch {
	case !src.IsValid() && ifindex == 0:
		_, err = c.c.WriteTo(b, to)
	case c.fam == v4:
		_, err = c.p4.WriteTo(b, &ipv4.ControlMessage{Src: src.AsSlice(), IfIndex: ifindex}, to)
	default:
		_, err = c.p6.WriteTo(b, &ipv6.ControlMessage{Src: src.AsSlice(), IfIndex: ifindex}, to)
	}
	return err
}

// recv reads one ICMP message (without IP header) and its sender.
func (c *icmpConn) recv(b []byte) (int, netip.Addr, error) {
	n, from, err := c.c.ReadFrom(b)
	if err != nil {
		return 0, netip.Addr{}, err
	}
	var ip net.IP
	switch a := from.(type) {
	case *net.IPAddr:
		ip = a.IP
	case *net.UDPAddr:
		ip = a.IP
	}
	addr, _ := netip.AddrFromSlice(ip)
	return n, addr.Unmap(), nil
}

func (c *icmpConn) close() error { return c.c.Close() }

// openFiles is the process's limit of open files (RLIMIT_NOFILE).
func openFiles() int {
	var lim unix.Rlimit
	if unix.Getrlimit(unix.RLIMIT_NOFILE, &lim) != nil {
		return 1024
	}
	return int(min(lim.Cur, 1<<30))
}
