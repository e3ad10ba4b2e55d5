package lab_test

import (
	"fmt"
	"net"
	"net/netip"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nslab/nslab/kernel"
	"github.com/nslab/nslab/nslabtest"
	"github.com/nslab/nslab/plan"
	"golang.org/x/sys/unix"
)

// linkLocal waits for the link-local address of a host link to be
// usable (past duplicate address detection).
func linkLocal(t *testing.T, dev string) netip.Addr {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		out, _ := exec.Command("ip", "-6", "-o", "addr", "show", "dev", dev, "scope", "link", "-tentative").Output()
		if f := strings.Fields(string(out)); len(f) > 3 {
			if p, err := netip.ParsePrefix(f[3]); err == nil {
				return p.Addr()
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	out, _ := exec.Command("ip", "-6", "addr", "show", "dev", dev).CombinedOutput()
	t.Fatalf("%s has no usable link-local address after 15s:\n%s", dev, out)
	return netip.Addr{}
}

// dialRetry is dialIn for a connection that must succeed, tried up to
// four times: a busy machine can be slow to resolve neighbours.
func dialRetry(nsPath, addr string) (got string, err error) {
	for range 4 {
		if got, err = dialIn(nsPath, addr); err == nil {
			return got, nil
		}
	}
	return got, err
}

// udpSink listens on the host and collects what arrives; with join, it
// joins the mDNS group 224.0.0.251 on that link, as an mDNS responder
// does.
func udpSink(t *testing.T, network, addr, join string) (port int, got func() []string) {
	t.Helper()
	pc, err := net.ListenPacket(network, addr)
	if err != nil {
		t.Fatalf("listening on %s: %v", addr, err)
	}
	t.Cleanup(func() { pc.Close() })
	if join != "" {
		ifi, err := net.InterfaceByName(join)
		if err != nil {
			t.Fatal(err)
		}
		rc, _ := pc.(*net.UDPConn).SyscallConn()
		var jerr error
		rc.Control(func(fd uintptr) {
			jerr = unix.SetsockoptIPMreqn(int(fd), unix.IPPROTO_IP, unix.IP_ADD_MEMBERSHIP, &unix.IPMreqn{Multiaddr: [4]byte{224, 0, 0, 251}, Ifindex: int32(ifi.Index)})
		})
		if jerr != nil {
			t.Fatalf("joining 224.0.0.251 on %s: %v", join, jerr)
		}
	}
	ch := make(chan string, 64)
	go func() {
		buf := make([]byte, 256)
		for {
			n, _, err := pc.ReadFrom(buf)
			if err != nil {
				close(ch)
				return
			}
			ch <- string(buf[:n])
		}
	}()
	return pc.LocalAddr().(*net.UDPAddr).Port, func() []string {
		var out []string
		timeout := time.After(500 * time.Millisecond)
		for {
			select {
			case m := <-ch:
				out = append(out, m)
			case <-timeout:
				return out
			}
		}
	}
}

// sendFrom sends one datagram from a node, out of its eth0 for multicast
// and broadcast.
func sendFrom(t *testing.T, nsPath, network, to, msg string) {
	t.Helper()
	err := kernel.Do(nsPath, func() error {
		ifi, err := net.InterfaceByName("eth0")
		if err != nil {
			return err
		}
		lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
			var serr error
			c.Control(func(fd uintptr) {
				if network == "udp4" {
					unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_BROADCAST, 1)
					serr = unix.SetsockoptIPMreqn(int(fd), unix.IPPROTO_IP, unix.IP_MULTICAST_IF, &unix.IPMreqn{Ifindex: int32(ifi.Index)})
				}
			})
			return serr
		}}
		pc, err := lc.ListenPacket(t.Context(), network, ":0")
		if err != nil {
			return err
		}
		defer pc.Close()
		ua, err := net.ResolveUDPAddr(network, to)
		if err != nil {
			return err
		}
		_, err = pc.WriteTo([]byte(msg), ua)
		return err
	})
	if err != nil {
		t.Fatalf("sending %q to %s: %v", msg, to, err)
	}
}

// TestSealedLabReachesNoHostService: a lab without nat or published ports
// reaches the host only on its own host addresses. A host service on the
// bridge's link-local address (TCP and UDP), and a UDP service on all
// addresses reached by IPv4 broadcast, IPv4 multicast (the mDNS group) or IPv6
// multicast (all-nodes), as mDNS, DHCP or SSDP would be, stay out of its
// reach; what goes to the lab's own host addresses still arrives.
func TestSealedLabReachesNoHostService(t *testing.T) {
	nslabtest.RequireRoot(t)
	needNftables(t)
	src := seed(t)
	tl := up(t, src)
	sub := strings.TrimSuffix(strings.Fields(strings.SplitN(strings.SplitN(src, "addresses: [", 2)[1], ",", 2)[0])[0], ".1/24")
	v6 := strings.TrimSpace(strings.SplitN(strings.SplitN(src, ", ", 2)[1], "]", 2)[0]) // fd..::1/64
	hostV6 := strings.TrimSuffix(v6, "/64")
	br := plan.BridgeName(tl.Name, "br-ns")
	ll := linkLocal(t, br)
	n1 := kernel.NetnsPath(tl.Name + ".ns1")
	// Zones by index: Go caches the names of the interfaces of the
	// namespace it saw first, the host's.
	var eth0 int
	if err := kernel.Do(n1, func() error {
		ifi, err := net.InterfaceByName("eth0")
		if err == nil {
			eth0 = ifi.Index
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}

	// TCP on the bridge's link-local address, and on its own address.
	tcpPort := freePort(t)
	serveIn(t, "", fmt.Sprintf("[%s%%%s]:%d", ll, br, tcpPort), "host link-local")
	serveIn(t, "", fmt.Sprintf("%s.1:%d", sub, tcpPort), "host lab address")
	serveIn(t, "", fmt.Sprintf("[%s]:%d", hostV6, tcpPort), "host lab address")
	if got, err := dialRetry(n1, fmt.Sprintf("%s.1:%d", sub, tcpPort)); err != nil || got != "host lab address" {
		t.Errorf("node -> its host address %s.1: %q, %v; want an answer", sub, got, err)
	}
	if got, err := dialRetry(n1, fmt.Sprintf("[%s]:%d", hostV6, tcpPort)); err != nil || got != "host lab address" {
		t.Errorf("node -> its host address %s: %q, %v; want an answer", hostV6, got, err)
	}
	if got, err := dialIn(n1, fmt.Sprintf("[%s%%%d]:%d", ll, eth0, tcpPort)); err == nil {
		t.Errorf("node reaches a host TCP service on the bridge's link-local %s: %q", ll, got)
	}

	// UDP: link-local unicast, IPv6 all-nodes, IPv4 broadcast and
	// all-hosts multicast; and unicast to the lab's own host address.
	llPort, llGot := udpSink(t, "udp6", fmt.Sprintf("[%s%%%s]:0", ll, br), "")
	sendFrom(t, n1, "udp6", fmt.Sprintf("[%s%%%d]:%d", ll, eth0, llPort), "link-local")
	if got := llGot(); len(got) > 0 {
		t.Errorf("a host UDP service on the bridge's link-local %s got %q from the node", ll, got)
	}
	anyPort, anyGot := udpSink(t, "udp", ":0", br)
	sendFrom(t, n1, "udp6", fmt.Sprintf("[ff02::1%%%d]:%d", eth0, anyPort), "ff02::1")
	sendFrom(t, n1, "udp4", fmt.Sprintf("%s.255:%d", sub, anyPort), "broadcast")
	sendFrom(t, n1, "udp4", fmt.Sprintf("224.0.0.251:%d", anyPort), "224.0.0.251")
	sendFrom(t, n1, "udp4", fmt.Sprintf("%s.1:%d", sub, anyPort), "own address")
	if got := anyGot(); len(got) != 1 || got[0] != "own address" {
		t.Errorf("a host UDP service on all addresses got %q from the node; want only \"own address\"", got)
	}
}

// TestLabNodeCannotRouteTheHost: a node of a lab sends the host a router
// advertisement (as radvd on a node, or a hostile user in it, would) with
// an on-link prefix. The host, which does not forward and so accepts
// router advertisements on its links by default, must not take a route
// from it: the lab never changes the host's routes.
func TestLabNodeCannotRouteTheHost(t *testing.T) {
	nslabtest.RequireRoot(t)
	needNftables(t)
	src := seed(t)
	tl := up(t, src)
	v6 := strings.TrimSpace(strings.SplitN(strings.SplitN(src, ", ", 2)[1], "]", 2)[0]) // fd..::1/64
	p := netip.MustParsePrefix(v6).Masked().Addr().As16()
	p[6], p[7] = 0xff, 0xfe // a /64 of the lab's reserved range that no link has
	pfx := netip.AddrFrom16(p)
	br := plan.BridgeName(tl.Name, "br-ns")
	linkLocal(t, br)
	n1 := kernel.NetnsPath(tl.Name + ".ns1")
	advertise(t, n1, br, pfx)
	// Without the lab's table (deleted by hand, before the next up puts
	// it back), the bridge itself takes no advertisement: accept_ra=0.
	if out, err := exec.Command("nft", "delete", "table", "inet", kernel.TableName(tl.Name)).CombinedOutput(); err != nil {
		t.Fatalf("deleting the lab's table: %v: %s", err, out)
	}
	advertise(t, n1, br, pfx)
}

// advertise sends a router advertisement of prefix pfx from the node
// whose namespace is at ns, and fails the test if the host takes a route
// to it on the lab's bridge br.
func advertise(t *testing.T, ns, br string, pfx netip.Addr) {
	t.Helper()
	err := kernel.Do(ns, func() error {
		ifi, err := net.InterfaceByName("eth0")
		if err != nil {
			return err
		}
		fd, err := unix.Socket(unix.AF_INET6, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_ICMPV6)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_MULTICAST_HOPS, 255)
		unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_MULTICAST_IF, ifi.Index)
		// Router advertisement, router lifetime 0 (not a default router),
		// with one prefix information option: on-link, valid 30 s.
		ra := []byte{134, 0, 0, 0, 64, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}
		pi := []byte{3, 4, 64, 0x80, 0, 0, 0, 30, 0, 0, 0, 0, 0, 0, 0, 0}
		pi = append(pi, pfx.AsSlice()...)
		to := &unix.SockaddrInet6{ZoneId: uint32(ifi.Index), Addr: netip.MustParseAddr("ff02::1").As16()}
		for range 3 {
			if err := unix.Sendto(fd, append(ra, pi...), 0, to); err != nil {
				return err
			}
			time.Sleep(100 * time.Millisecond)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("sending a router advertisement from ns1: %v", err)
	}
	time.Sleep(500 * time.Millisecond)
	out, _ := exec.Command("ip", "-6", "route", "show", "dev", br).CombinedOutput()
	if strings.Contains(string(out), pfx.String()) {
		exec.Command("ip", "-6", "route", "del", pfx.String()+"/64", "dev", br).Run()
		t.Errorf("a node's router advertisement gave the host a route to %s/64 on the lab's bridge:\n%s", pfx, out)
	}
}
