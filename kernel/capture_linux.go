package kernel

import (
	"errors"
	"fmt"
	"net"
	"time"
	"unsafe"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// ErrNoPacket is what Capture.Read returns when no packet came within
// its poll interval: the caller checks whether to stop, then reads on.
var ErrNoPacket = errors.New("no packet yet")

// Capture is an AF_PACKET socket bound to one interface of a namespace,
// with a classic BPF filter attached in the kernel: what tcpdump -i IF
// FILTER opens through libpcap.
type Capture struct {
	fd int
	ns string
}

// capturePoll is how long Read waits for a packet before it returns
// ErrNoPacket.
const capturePoll = 200 * time.Millisecond

// OpenCapture opens a packet socket in the named namespace ns ("" for
// the root namespace) that receives every frame ifname sends or receives
// and that filter (nil: all) keeps. The filter is attached
// (SO_ATTACH_FILTER) before the socket is bound, so no frame gets past
// it; the socket stays in ns for its life.
func OpenCapture(ns, ifname string, filter []bpf.RawInstruction) (*Capture, error) {
	var c *Capture
	path := ""
	if ns != "" {
		path = NetnsPath(ns)
	}
	err := Do(path, func() error {
		var err error
		c, err = openCapture(ns, ifname, filter)
		return err
	})
	return c, err
}

func openCapture(ns, ifname string, filter []bpf.RawInstruction) (*Capture, error) {
	ifi, err := net.InterfaceByName(ifname)
	if err != nil {
		return nil, &OpError{NS: ns, Op: "capturing on " + ifname, Err: fmt.Errorf("no such interface (%s)", ifaceNames())}
	}
	// Protocol 0: the socket receives nothing until it is bound.
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, &OpError{NS: ns, Op: "opening a packet socket", Err: err}
	}
	c := &Capture{fd: fd, ns: ns}
	if err := c.setup(ifi.Index, filter); err != nil {
		unix.Close(fd)
		return nil, &OpError{NS: ns, Op: "capturing on " + ifname, Err: err}
	}
	return c, nil
}

func (c *Capture) setup(index int, filter []bpf.RawInstruction) error {
	if len(filter) > 0 {
		prog := unix.SockFprog{Len: uint16(len(filter)), Filter: (*unix.SockFilter)(unsafe.Pointer(&filter[0]))}
		if err := unix.SetsockoptSockFprog(c.fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &prog); err != nil {
			return fmt.Errorf("attaching the filter: %w", err)
		}
	}
	if err := unix.SetsockoptInt(c.fd, unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1); err != nil {
		return fmt.Errorf("asking for timestamps: %w", err)
	}
	unix.SetsockoptInt(c.fd, unix.SOL_SOCKET, unix.SO_RCVBUF, 4<<20) // best effort: fewer drops
	tv := unix.NsecToTimeval(capturePoll.Nanoseconds())
	if err := unix.SetsockoptTimeval(c.fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		return err
	}
	all := uint16(unix.ETH_P_ALL)
	proto := all<<8 | all>>8 // network byte order
	if err := unix.Bind(c.fd, &unix.SockaddrLinklayer{Protocol: proto, Ifindex: index}); err != nil {
		return fmt.Errorf("binding the packet socket: %w", err)
	}
	return nil
}

func ifaceNames() string {
	ifs, err := net.Interfaces()
	if err != nil {
		return err.Error()
	}
	s := "interfaces:"
	for _, i := range ifs {
		s += " " + i.Name
	}
	return s
}

// Read reads one frame into buf (the rest of a longer frame is cut) and
// returns how many bytes it holds, the frame's length on the wire and
// when the kernel received it. After capturePoll without a frame it
// returns ErrNoPacket.
func (c *Capture) Read(buf []byte) (n, length int, ts time.Time, err error) {
	oob := make([]byte, unix.CmsgSpace(int(unsafe.Sizeof(unix.Timespec{}))))
	length, oobn, _, _, err := unix.Recvmsg(c.fd, buf, oob, unix.MSG_TRUNC)
	switch {
	case err == unix.EAGAIN || err == unix.EINTR:
		return 0, 0, time.Time{}, ErrNoPacket
	case err != nil:
		return 0, 0, time.Time{}, &OpError{NS: c.ns, Op: "reading packets", Err: err}
	}
	ts = time.Now()
	if msgs, err := unix.ParseSocketControlMessage(oob[:oobn]); err == nil {
		for _, m := range msgs {
			if m.Header.Level == unix.SOL_SOCKET && m.Header.Type == unix.SO_TIMESTAMPNS && len(m.Data) >= int(unsafe.Sizeof(unix.Timespec{})) {
				t := (*unix.Timespec)(unsafe.Pointer(&m.Data[0]))
				ts = time.Unix(t.Sec, t.Nsec)
			}
		}
	}
	return min(length, len(buf)), length, ts, nil
}

// Dropped returns how many frames the kernel dropped since the last
// call because the socket's buffer was full.
func (c *Capture) Dropped() int {
	s, err := unix.GetsockoptTpacketStats(c.fd, unix.SOL_PACKET, unix.PACKET_STATISTICS)
	if err != nil {
		return 0
	}
	return int(s.Drops)
}

// Close closes the socket.
func (c *Capture) Close() error { return unix.Close(c.fd) }
