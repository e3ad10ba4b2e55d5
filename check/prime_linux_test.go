package check

import (
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"os/exec"
	"slices"
	"strings"
	"sync/atomic"
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
	run := func(lim *neighLimits) (*Report, int) {
		t.Helper()
		stop := sniff(t, kernel.NetnsPath(ns["x"]), "eth0")
		r, err := Run(context.Background(), l.lab, nsPath, Options{Timeout: time.Second, limits: lim})
		if err != nil {
			t.Fatalf("Run() error: %v", err)
		}
		if r.Failed != 0 || r.Passed != len(Expect(l.lab)) {
			t.Errorf("Run() in %d waves: passed %d, failed %d, want all %d", r.Waves, r.Passed, r.Failed, len(Expect(l.lab)))
		}
		return r, stop()
	}

	one, flooded := run(&neighLimits{thresh3: [2]int{1024, 1024}, hold: time.Second})
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
	many, quiet := run(&neighLimits{thresh3: [2]int{8, 8}, hold: 100 * time.Millisecond})
	t.Logf("bystander received %d ARP requests, solicitations and echo requests during a check in %d wave, %d during one in %d waves, primed", flooded, one.Waves, quiet, many.Waves)
	if one.Waves != 1 || many.Waves < 2 {
		t.Fatalf("waves: %d and %d, want 1 and several", one.Waves, many.Waves)
	}
	if flooded < 4 || quiet > 0 {
		t.Errorf("bystander received %d ARP requests, solicitations and echo requests unprimed, %d primed: want at least 4, then none", flooded, quiet)
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

// sniff counts, from now until the returned function is called, the
// ARP requests, neighbour solicitations and echo requests (of either
// family) that reach dev in the namespace at path: a bystander's view of
// what a check floods. Other traffic (a new node's router solicitations
// and multicast reports) is not counted.
func sniff(t *testing.T, path, dev string) func() int {
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
		return unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifc.Index})
	})
	if err != nil {
		t.Fatalf("sniffing on %s in %s: %v", dev, path, err)
	}
	var n atomic.Int64
	done := make(chan struct{})
	quit := make(chan struct{})
	go func() {
		defer close(done)
		b := make([]byte, 2048)
		for {
			select {
			case <-quit:
				return
			default:
			}
			k, _, err := unix.Recvfrom(fd, b, 0)
			if err == nil && counted(b[:k]) {
				n.Add(1)
			}
		}
	}()
	return func() int {
		close(quit)
		<-done
		unix.Close(fd)
		return int(n.Load())
	}
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// counted reports whether an Ethernet frame is an ARP request, an
// ICMPv6 neighbour solicitation, or an ICMP or ICMPv6 echo request.
func counted(f []byte) bool {
	if len(f) < 14 {
		return false
	}
	p := f[14:]
	switch binary.BigEndian.Uint16(f[12:]) {
	case unix.ETH_P_ARP:
		return len(p) >= 8 && binary.BigEndian.Uint16(p[6:]) == 1
	case unix.ETH_P_IP:
		hl := int(p[0]&0x0f) * 4
		return len(p) > hl && p[9] == unix.IPPROTO_ICMP && p[hl] == 8
	case unix.ETH_P_IPV6:
		return len(p) > 40 && p[6] == unix.IPPROTO_ICMPV6 && (p[40] == 135 || p[40] == 128)
	}
	return false
}
