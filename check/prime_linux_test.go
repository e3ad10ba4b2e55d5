package check

import (
	"context"
	"encoding/binary"
	"fmt"
	"maps"
	"net"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nslab/nslab/kernel"
	"golang.org/x/sys/unix"
)

// TestRunPrimed: a check in waves writes its neighbours before probing,
// and tells the bridge where the nodes it probes are, so neither a
// solicitation nor a request is flooded through the bridge: a bystander on the
// same bridge (in the kernel, not in the model) receives nothing from a
// primed check of three nodes, where the same check in one wave (the
// kernel resolving) floods it with ARP requests and neighbour
// solicitations. Everything passes both ways, and the primed check
// leaves none of its entries behind, and a node's own static entry as it
// was.
func TestRunPrimed(t *testing.T) {
	needRoot(t)
	needNeighbours(t, 64)
	l := newTestLab("prime")
	l.bridge("br0")
	nodes := []string{"a", "b", "c"}
	ns := map[string]string{}
	sw := newNetns(t, "sw")
	ip(t, "-n", sw, "link", "add", "br0", "type", "bridge")
	addAddrs(t, sw, "br0")
	for i, n := range append(nodes, "x") {
		a4, a6 := fmt.Sprintf("10.73.0.%d/24", 10+i), fmt.Sprintf("fd73::%x/64", 10+i)
		if n != "x" {
			l.port(n+":eth0", "br0", a4, a6)
		}
		ns[n] = newNetns(t, n)
		veth(t, sw, "p"+n, ns[n], "eth0", nil, []string{a4, a6})
		ip(t, "-n", sw, "link", "set", "p"+n, "master", "br0")
	}
	waitUp(t, sw, "br0")
	nsPath := func(node string) string { return kernel.NetnsPath(ns[node]) }
	run := func(lim *neighLimits) (*Report, []frame, string) {
		t.Helper()
		var tl timeline
		tentative := tentativeLinkLocal(t, ns)
		stop := sniff(t, kernel.NetnsPath(ns["x"]), "eth0")
		tl.start()
		r, err := Run(context.Background(), l.lab, nsPath, Options{Timeout: time.Second, limits: lim, trace: tl.step})
		if err != nil {
			t.Fatalf("Run() error: %v", err)
		}
		if r.Failed != 0 || r.Passed != len(Expect(l.lab)) {
			t.Errorf("Run() in %d waves: passed %d, failed %d, want all %d", r.Waves, r.Passed, r.Failed, len(Expect(l.lab)))
		}
		seen := stop()
		return r, seen, tentative + tl.String(seen)
	}

	one, flooded, _ := run(&neighLimits{thresh3: [2]int{1024, 1024}, hold: time.Second})
	for _, n := range nodes {
		ip(t, "-n", ns[n], "neigh", "flush", "all")
	}
	// A's own static entry for b, which the check must leave as it is
	// (a check replaced it with a reachable one, then deleted it).
	bMAC := strings.Fields(ipOut(t, "-n", ns["b"], "-o", "link", "show", "eth0"))
	mac := bMAC[slices.Index(bMAC, "link/ether")+1]
	ip(t, "-n", ns["a"], "neigh", "add", "10.73.0.11", "lladdr", mac, "dev", "eth0", "nud", "permanent")
	// The bridge forgets where the nodes are (as after ageing_time): the
	// primed check's learning frames tell it again, so that it does not
	// flood the echo requests to every port either.
	ip(t, "-n", sw, "link", "set", "br0", "type", "bridge", "fdb_flush")
	many, seen, story := run(&neighLimits{thresh3: [2]int{8, 8}, hold: 100 * time.Millisecond})
	// A node whose link came up less than about two seconds ago may
	// still be checking that its link-local address is unique: its
	// duplicate address detection solicitation (source ::) is the
	// kernel's own and is flooded too, but no check ever sends one.
	quiet := slices.DeleteFunc(slices.Clone(seen), func(f frame) bool { return f.dad })
	t.Logf("bystander received %d ARP requests, solicitations and echo requests during a check in %d wave, %d during one in %d waves, primed (%d probes retried; and %d duplicate address detection solicitations, the kernel's)", countCheck(flooded), one.Waves, len(quiet), many.Waves, many.Retried, len(seen)-len(quiet))
	if one.Waves != 1 || many.Waves < 2 {
		t.Fatalf("waves: %d and %d, want 1 and several", one.Waves, many.Waves)
	}
	if countCheck(flooded) < 4 || len(quiet) > 0 {
		t.Errorf("bystander received %d ARP requests, solicitations and echo requests unprimed, %d primed: want at least 4, then none; the primed check, with what the bystander received:\n%s", countCheck(flooded), len(quiet), story)
	} else if len(seen) > 0 {
		t.Logf("the primed check, with what the bystander received:\n%s", story)
	}
	for _, n := range nodes {
		out, _ := exec.Command("ip", "-n", ns[n], "neigh", "show").CombinedOutput()
		for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			if n == "a" && strings.HasPrefix(line, "10.73.0.11 ") {
				if line != "10.73.0.11 dev eth0 lladdr "+mac+" PERMANENT" {
					t.Errorf("a: its own entry for b changed by the check: %s", line)
				}
				continue
			}
			if strings.HasPrefix(line, "10.73.") || strings.HasPrefix(line, "fd73:") {
				t.Errorf("%s: primed entry left after the check: %s", n, line)
			}
		}
	}
	if out := ipOut(t, "-n", ns["a"], "neigh", "show", "10.73.0.11"); !strings.Contains(out, "PERMANENT") {
		t.Errorf("a: its own entry for b is gone after the check: %q", out)
	}
}

// sniff records, from now until the returned function is called, the
// ARP requests, neighbour solicitations and echo requests (of either
// family) that reach dev in the namespace at path, each with the time
// the kernel received it: a bystander's view of what a check floods.
// Other traffic (a new node's router solicitations and multicast
// reports) is not recorded.
func sniff(t *testing.T, path, dev string) func() []frame {
	t.Helper()
	var fd int
	err := kernel.Do(path, func() error {
		ifc, err := net.InterfaceByName(dev)
		if err != nil {
			return err
		}
		proto := int(htons(unix.ETH_P_ALL))
		if fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, proto); err != nil {
			return err
		}
		tv := unix.Timeval{Usec: 50000}
		unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1); err != nil {
			return err
		}
		return unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifc.Index})
	})
	if err != nil {
		t.Fatalf("sniffing on %s in %s: %v", dev, path, err)
	}
	var seen []frame
	done := make(chan struct{})
	quit := make(chan struct{})
	go func() {
		defer close(done)
		b := make([]byte, 2048)
		oob := make([]byte, 128)
		for {
			select {
			case <-quit:
				return
			default:
			}
			k, oobn, _, from, err := unix.Recvmsg(fd, b, oob, 0)
			if err != nil {
				continue
			}
			if ll, ok := from.(*unix.SockaddrLinklayer); ok && ll.Pkttype == unix.PACKET_OUTGOING {
				continue // the bystander's own
			}
			if what, dad, ok := describeFrame(b[:k]); ok {
				seen = append(seen, frame{at: stamp(oob[:oobn]), what: what, dad: dad})
			}
		}
	}()
	return func() []frame {
		close(quit)
		<-done
		unix.Close(fd)
		return seen
	}
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

// String interleaves the steps with the frames a bystander received, in
// time order, each at its time since the check started.
func (tl *timeline) String(frames []frame) string {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	var all []frame
	for _, s := range tl.steps {
		all = append(all, frame{at: s.at, what: "check: " + s.what})
	}
	for _, f := range frames {
		all = append(all, frame{at: f.at, what: "BYSTANDER RECEIVED: " + f.what})
	}
	slices.SortStableFunc(all, func(a, b frame) int { return a.at.Compare(b.at) })
	var b strings.Builder
	for _, f := range all {
		fmt.Fprintf(&b, "\t%+9.3f ms  %s\n", float64(f.at.Sub(tl.t0).Microseconds())/1000, f.what)
	}
	return b.String()
}

// frame is a packet a bystander received, and when; dad is set for a
// duplicate address detection solicitation.
type frame struct {
	at   time.Time
	what string
	dad  bool
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
