package check

// What a bystander on a lab's bridge receives (TestRunPrimed): packet
// captures that end only once the kernel has passed on all it had
// queued, the frames a check may flood, described, and a timeline of
// the check's steps to read them against.

import (
	"encoding/binary"
	"fmt"
	"maps"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nslab/nslab/kernel"
	"golang.org/x/sys/unix"
)

// sniff records, from now until stop, the ARP requests, neighbour
// solicitations and echo requests (of either family) that reach dev in
// the namespace at path, each with the time the kernel received it: a
// bystander's view of what a check floods. Other traffic (a new node's
// router solicitations and multicast reports) is not recorded, nor what
// the bystander sends.
func sniff(t *testing.T, path, dev string, nonce uint64) *capture {
	t.Helper()
	c := &capture{where: path + " " + dev, nonce: nonce, marks: map[uint32]bool{},
		quit: make(chan struct{}), done: make(chan struct{})}
	err := kernel.Do(path, func() error {
		ifc, err := net.InterfaceByName(dev)
		if err != nil {
			return err
		}
		proto := int(htons(unix.ETH_P_ALL))
		if c.fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, proto); err != nil {
			return err
		}
		tv := unix.Timeval{Usec: 50000}
		unix.SetsockoptTimeval(c.fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
		if err := unix.SetsockoptInt(c.fd, unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1); err != nil {
			return err
		}
		return unix.Bind(c.fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifc.Index})
	})
	if err != nil {
		t.Fatalf("sniffing on %s in %s: %v", dev, path, err)
	}
	go c.read()
	return c
}

// capture is what a packet socket on one interface receives. Frames
// still queued in the kernel when the test is done with a check are
// part of it too: stop waits for end markers (see markEnd) to come,
// after them.
type capture struct {
	where string
	fd    int
	nonce uint64
	mu    sync.Mutex
	seen  []frame
	marks map[uint32]bool // end markers received, by the CPU that sent them
	quit  chan struct{}
	done  chan struct{}
}

func (c *capture) read() {
	defer close(c.done)
	b := make([]byte, 2048)
	oob := make([]byte, 128)
	for {
		select {
		case <-c.quit:
			return
		default:
		}
		k, oobn, _, from, err := unix.Recvmsg(c.fd, b, oob, 0)
		if err != nil {
			continue
		}
		if ll, ok := from.(*unix.SockaddrLinklayer); ok && ll.Pkttype == unix.PACKET_OUTGOING {
			continue // the bystander's own
		}
		c.mu.Lock()
		if cpu, ok := endMarker(b[:k], c.nonce); ok {
			c.marks[cpu] = true
		} else if what, dad, ok := describeFrame(b[:k]); ok {
			c.seen = append(c.seen, frame{at: stamp(oob[:oobn]), got: time.Now(), what: what, dad: dad})
		}
		c.mu.Unlock()
	}
}

// stop returns what the capture received once marks end markers have
// come (at most 10 s: after that it fails the test).
func (c *capture) stop(t *testing.T, marks int) []frame {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c.mu.Lock()
		n := len(c.marks)
		c.mu.Unlock()
		if n >= marks {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("%s: %d of %d end markers received in 10s: what the kernel was still passing on may be missing", c.where, n, marks)
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	close(c.quit)
	<-c.done
	unix.Close(c.fd)
	return c.seen
}

// The kernel passes a frame through a bridge in its receive softirq, on
// the CPU that sent it, each hop queued behind the frames already
// waiting on that CPU's input backlog; under load the softirq runs late
// (in ksoftirqd), so a bystander may get a check's floods after the
// check has returned. An end marker, sent from every CPU after a check,
// comes after all that CPU's earlier frames: once the bystander has one
// from each, it has all that the check sent it.
const markEthertype = 0x88b6 // IEEE 802 local experimental 2

// markEnd sends an end marker, a broadcast of markEthertype carrying
// nonce and the CPU's number, from dev in the namespace at path, from
// each CPU this thread may run on, and returns how many it sent.
func markEnd(t *testing.T, path, dev string, nonce uint64) int {
	t.Helper()
	var fd int
	var ifc *net.Interface
	err := kernel.Do(path, func() error {
		var err error
		if ifc, err = net.InterfaceByName(dev); err != nil {
			return err
		}
		fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
		return err
	})
	if err != nil {
		t.Fatalf("end marker from %s in %s: %v", dev, path, err)
	}
	defer unix.Close(fd)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var all unix.CPUSet
	if err := unix.SchedGetaffinity(0, &all); err != nil {
		t.Fatalf("end marker: %v", err)
	}
	defer unix.SchedSetaffinity(0, &all)
	sent := 0
	for cpu := range 1024 {
		if !all.IsSet(cpu) {
			continue
		}
		var one unix.CPUSet
		one.Set(cpu)
		if err := unix.SchedSetaffinity(0, &one); err != nil {
			t.Fatalf("end marker: moving to CPU %d: %v", cpu, err)
		}
		f := make([]byte, 60)
		copy(f[0:6], []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
		copy(f[6:12], ifc.HardwareAddr)
		binary.BigEndian.PutUint16(f[12:], markEthertype)
		binary.BigEndian.PutUint64(f[14:], nonce)
		binary.BigEndian.PutUint32(f[22:], uint32(cpu))
		sa := &unix.SockaddrLinklayer{Ifindex: ifc.Index, Halen: 6}
		copy(sa.Addr[:], f[0:6])
		if err := unix.Sendto(fd, f, 0, sa); err != nil {
			t.Fatalf("end marker from CPU %d: %v", cpu, err)
		}
		sent++
	}
	return sent
}

// endMarker returns the CPU an end marker with nonce was sent from.
func endMarker(f []byte, nonce uint64) (uint32, bool) {
	if len(f) < 26 || binary.BigEndian.Uint16(f[12:]) != markEthertype || binary.BigEndian.Uint64(f[14:]) != nonce {
		return 0, false
	}
	return binary.BigEndian.Uint32(f[22:]), true
}

// timeline is the steps of a check (Options.trace), each with the time
// it ended.
type timeline struct {
	mu    sync.Mutex
	t0    time.Time
	steps []frame
}

func (tl *timeline) start() { tl.t0 = time.Now() }

func (tl *timeline) step(s string) {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	tl.steps = append(tl.steps, frame{at: time.Now(), what: s})
}

// String interleaves the steps with the frames a bystander received, and
// those that the bridge's host side received, in time order, each at its
// time since the check started.
func (tl *timeline) String(frames, bridge []frame) string {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	var all []frame
	for _, s := range tl.steps {
		all = append(all, frame{at: s.at, what: "check: " + s.what})
	}
	for _, f := range frames {
		all = append(all, frame{at: f.at, got: f.got, what: "BYSTANDER RECEIVED: " + f.what})
	}
	for _, f := range bridge {
		all = append(all, frame{at: f.at, got: f.got, what: "bridge's host side received: " + f.what})
	}
	slices.SortStableFunc(all, func(a, b frame) int { return a.at.Compare(b.at) })
	var b strings.Builder
	for _, f := range all {
		fmt.Fprintf(&b, "\t%+9.3f ms  %s", float64(f.at.Sub(tl.t0).Microseconds())/1000, f.what)
		if late := f.got.Sub(f.at); !f.got.IsZero() && late > 5*time.Millisecond {
			fmt.Fprintf(&b, " (read %.1f ms later)", float64(late.Microseconds())/1000)
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// frame is a packet a bystander received, and when; dad is set for a
// duplicate address detection solicitation.
type frame struct {
	at, got time.Time // queued by the kernel, read by the test
	what    string
	dad     bool
}

// countCheck counts the frames that may be a check's: all but duplicate
// address detection.
func countCheck(fs []frame) int {
	n := 0
	for _, f := range fs {
		if !f.dad {
			n++
		}
	}
	return n
}

// backlogDrops is how many packets the kernel's per-CPU input backlogs
// have dropped since boot (netdev_max_backlog exceeded), -1 if unknown.
func backlogDrops() int64 {
	b, err := os.ReadFile("/proc/net/softnet_stat")
	if err != nil {
		return -1
	}
	var n int64
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if f := strings.Fields(line); len(f) > 1 {
			v, _ := strconv.ParseInt(f[1], 16, 64)
			n += v
		}
	}
	return n
}

// tentativeLinkLocal says which link-local addresses of the namespaces
// ns are still tentative (their duplicate address detection under way),
// or "" if none.
func tentativeLinkLocal(t *testing.T, ns map[string]string) string {
	t.Helper()
	var b strings.Builder
	for _, n := range slices.Sorted(maps.Keys(ns)) {
		out, _ := exec.Command("ip", "-n", ns[n], "-o", "-6", "addr", "show", "scope", "link", "tentative").Output()
		for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			if f := strings.Fields(line); len(f) > 3 {
				fmt.Fprintf(&b, "\ttentative as the check starts: %s %s %s\n", n, f[1], f[3])
			}
		}
	}
	return b.String()
}

// stamp is the kernel's receive time in a message's control data, or
// now if it carries none.
func stamp(oob []byte) time.Time {
	msgs, _ := unix.ParseSocketControlMessage(oob)
	for _, m := range msgs {
		if m.Header.Level == unix.SOL_SOCKET && m.Header.Type == unix.SCM_TIMESTAMPNS && len(m.Data) >= 16 {
			sec := int64(binary.NativeEndian.Uint64(m.Data[0:]))
			nsec := int64(binary.NativeEndian.Uint64(m.Data[8:]))
			return time.Unix(sec, nsec)
		}
	}
	return time.Now()
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// describeFrame says what an Ethernet frame is, with its addresses, if it
// is an ARP request, an ICMPv6 neighbour solicitation, or an ICMP or
// ICMPv6 echo request; dad is set for a solicitation from the
// unspecified address, which only duplicate address detection sends (RFC
// 4862, 5.4.2).
func describeFrame(f []byte) (what string, dad, ok bool) {
	if len(f) < 14 {
		return "", false, false
	}
	macs := fmt.Sprintf("%s > %s", net.HardwareAddr(f[6:12]), net.HardwareAddr(f[0:6]))
	p := f[14:]
	switch binary.BigEndian.Uint16(f[12:]) {
	case unix.ETH_P_ARP:
		if len(p) < 28 || binary.BigEndian.Uint16(p[6:]) != 1 {
			return "", false, false
		}
		return fmt.Sprintf("%s ARP request who-has %s tell %s (%s)", macs, net.IP(p[24:28]), net.IP(p[14:18]), net.HardwareAddr(p[8:14])), false, true
	case unix.ETH_P_IP:
		if len(p) < 20 {
			return "", false, false
		}
		hl := int(p[0]&0x0f) * 4
		if len(p) <= hl || p[9] != unix.IPPROTO_ICMP || p[hl] != 8 {
			return "", false, false
		}
		return fmt.Sprintf("%s ICMP echo request %s > %s", macs, net.IP(p[12:16]), net.IP(p[16:20])), false, true
	case unix.ETH_P_IPV6:
		if len(p) <= 40 || p[6] != unix.IPPROTO_ICMPV6 {
			return "", false, false
		}
		src, dst := net.IP(p[8:24]), net.IP(p[24:40])
		switch {
		case p[40] == 135 && len(p) >= 64:
			dad := src.Equal(net.IPv6unspecified)
			what := fmt.Sprintf("%s ICMPv6 neighbour solicitation %s > %s who-has %s", macs, src, dst, net.IP(p[48:64]))
			if dad {
				what += " (duplicate address detection: the kernel's, not counted)"
			}
			return what, dad, true
		case p[40] == 128:
			return fmt.Sprintf("%s ICMPv6 echo request %s > %s", macs, src, dst), false, true
		}
	}
	return "", false, false
}

// TestDescribeFrame: the bystander of TestRunPrimed tells a duplicate
// address detection solicitation (source ::) from a solicitation a
// probe makes (source the node's address), and counts the latter.
func TestDescribeFrame(t *testing.T) {
	mac := net.HardwareAddr{0x02, 0, 0, 0, 0, 0x0a}
	ns := func(src, target string) []byte {
		f := make([]byte, 14+40+24)
		copy(f[0:6], []byte{0x33, 0x33, 0xff, 0, 0, 0x0b})
		copy(f[6:12], mac)
		binary.BigEndian.PutUint16(f[12:], unix.ETH_P_IPV6)
		p := f[14:]
		p[0], p[6], p[7] = 0x60, unix.IPPROTO_ICMPV6, 255
		binary.BigEndian.PutUint16(p[4:], 24)
		copy(p[8:24], net.ParseIP(src).To16())
		copy(p[24:40], net.ParseIP("ff02::1:ff00:b").To16())
		p[40] = 135
		copy(p[48:64], net.ParseIP(target).To16())
		return f
	}
	arp := make([]byte, 14+28)
	copy(arp[0:6], []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	copy(arp[6:12], mac)
	binary.BigEndian.PutUint16(arp[12:], unix.ETH_P_ARP)
	binary.BigEndian.PutUint16(arp[14+6:], 1)
	copy(arp[14+8:], mac)
	copy(arp[14+14:], net.ParseIP("10.73.0.10").To4())
	copy(arp[14+24:], net.ParseIP("10.73.0.11").To4())
	for _, c := range []struct {
		frame   []byte
		dad, ok bool
		what    string
	}{
		{ns("fd73::a", "fd73::b"), false, true, "02:00:00:00:00:0a > 33:33:ff:00:00:0b ICMPv6 neighbour solicitation fd73::a > ff02::1:ff00:b who-has fd73::b"},
		{ns("::", "fe80::a"), true, true, "02:00:00:00:00:0a > 33:33:ff:00:00:0b ICMPv6 neighbour solicitation :: > ff02::1:ff00:b who-has fe80::a (duplicate address detection: the kernel's, not counted)"},
		{ns("fd73::a", "fd73::b")[:20], false, false, ""},
		{arp, false, true, "02:00:00:00:00:0a > ff:ff:ff:ff:ff:ff ARP request who-has 10.73.0.11 tell 10.73.0.10 (02:00:00:00:00:0a)"},
	} {
		what, dad, ok := describeFrame(c.frame)
		if what != c.what || dad != c.dad || ok != c.ok {
			t.Errorf("describeFrame() = %q, dad %v, ok %v; want %q, %v, %v", what, dad, ok, c.what, c.dad, c.ok)
		}
	}
}

// TestCaptureHasAllBeforeTheEnd: what a capture returns holds every frame
// sent to its interface before the end markers, however little time its
// reader had (a capture that stopped at once lost what was still queued,
// and TestRunPrimed's bystander then missed a check's last floods).
func TestCaptureHasAllBeforeTheEnd(t *testing.T) {
	needRoot(t)
	p, q := newNetns(t, "capp"), newNetns(t, "capq")
	veth(t, p, "eth0", q, "eth0", nil, nil)
	nonce := rand.Uint64()
	c := sniff(t, kernel.NetnsPath(q), "eth0", nonce)
	const sent = 200
	var fd int
	var ifc *net.Interface
	err := kernel.Do(kernel.NetnsPath(p), func() error {
		var err error
		if ifc, err = net.InterfaceByName("eth0"); err != nil {
			return err
		}
		fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	for i := range sent {
		f := make([]byte, 60)
		copy(f[0:6], []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
		copy(f[6:12], ifc.HardwareAddr)
		binary.BigEndian.PutUint16(f[12:], unix.ETH_P_ARP)
		binary.BigEndian.PutUint16(f[14:], 1)      // Ethernet
		binary.BigEndian.PutUint16(f[16:], 0x0800) // IPv4
		f[18], f[19] = 6, 4                        // address lengths
		binary.BigEndian.PutUint16(f[20:], 1)      // request
		copy(f[22:28], ifc.HardwareAddr)           // sender
		copy(f[28:32], []byte{10, 74, byte(i >> 8), byte(i)})
		copy(f[38:42], []byte{10, 74, 255, 254}) // target
		sa := &unix.SockaddrLinklayer{Ifindex: ifc.Index, Halen: 6}
		copy(sa.Addr[:], f[0:6])
		if err := unix.Sendto(fd, f, 0, sa); err != nil {
			t.Fatalf("sending request %d: %v", i, err)
		}
	}
	if got := len(c.stop(t, markEnd(t, kernel.NetnsPath(p), "eth0", nonce))); got != sent {
		t.Errorf("capture received %d ARP requests, want all %d", got, sent)
	}
}
