package lab_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nslab/nslab/kernel"
	"github.com/nslab/nslab/lab"
	"github.com/nslab/nslab/nslabtest"
	"github.com/nslab/nslab/plan"
	"github.com/nslab/nslab/topology"
	"golang.org/x/sys/unix"
)

// segUp is up for the tests of segments (overlays, taps, VLANs): their
// labs carry the branch's name, segments.
func segUp(t testing.TB, yaml string) *topology.Lab {
	t.Helper()
	return upNamed(t, "seg", yaml)
}

// TestOverlayVXLAN builds a VXLAN overlay over a routed underlay (three
// leaves on /30s to a spine router) and proves it: each leaf's vx0 is a
// VXLAN device with the file's VNI and port, from its uplink's address,
// with the other two uplinks as its static remotes and MTU 1500-50; every
// leaf reaches every other on the overlay; a UDP datagram that fills the
// 1450 bytes crosses, with don't-fragment set, and one byte more is
// refused by the sender (EMSGSIZE); down leaves nothing.
func TestOverlayVXLAN(t *testing.T) {
	u, o := nslabtest.Subnet(t), nslabtest.Subnet(t)
	tl := segUp(t, strings.NewReplacer("U", u, "O", o).Replace(`
routing: auto
overlays:
  tenant: {vni: 4242, port: 4790, subnets: [O.0/24]}
nodes:
  spine:
    router: true
    interfaces:
      d1: {link: leaf1:up, addresses: [U.1/30]}
      d2: {link: leaf2:up, addresses: [U.5/30]}
      d3: {link: leaf3:up, addresses: [U.9/30]}
  leaf1: {interfaces: {up: {addresses: [U.2/30]}, vx0: {link: tenant, underlay: up}}}
  leaf2: {interfaces: {up: {addresses: [U.6/30]}, vx0: {link: tenant, underlay: up}}}
  leaf3: {interfaces: {up: {addresses: [U.10/30]}, vx0: {link: tenant, underlay: up}}}
`))
	ns := func(n string) string { return plan.NetnsName(tl.Name, n) }
	d := nslabtest.IP(t, "-n", ns("leaf1"), "-d", "link", "show", "vx0")
	for _, want := range []string{"mtu 1450", "vxlan id 4242", "local " + u + ".2", "dev up", "dstport 4790"} {
		if !strings.Contains(d, want) {
			t.Errorf("leaf1's vx0 lacks %q:\n%s", want, d)
		}
	}
	c := kernel.NewConn()
	defer c.Close()
	remotes, err := kernel.VXLANRemotes(c, ns("leaf1"), "vx0")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range remotes {
		got = append(got, r.String())
	}
	slices.Sort(got)
	if want := []string{u + ".10", u + ".6"}; !slices.Equal(got, want) {
		t.Errorf("leaf1's remotes: %v, want %v", got, want)
	}

	expectPing(t, tl, "overlay", "leaf1", true, o+".2", o+".3")
	expectPing(t, tl, "overlay", "leaf3", true, o+".1", o+".2")

	// The MTU, measured: 1450 - 20 (IPv4) - 8 (UDP) = 1422 bytes of payload.
	recv := listenUDP(t, ns("leaf2"), o+".2:9999")
	if err := sendDF(ns("leaf1"), o+".2:9999", 1422); err != nil {
		t.Fatalf("1422 bytes with don't-fragment: %v", err)
	}
	if n := <-recv; n != 1422 {
		t.Errorf("leaf2 received %d bytes, want 1422", n)
	}
	err = sendDF(ns("leaf1"), o+".2:9999", 1423)
	if !errors.Is(err, unix.EMSGSIZE) {
		t.Errorf("1423 bytes with don't-fragment: %v, want EMSGSIZE (the overlay's MTU is 1450)", err)
	}
	t.Logf("overlay MTU 1450: 1422-byte UDP payload crossed with DF, 1423 refused: %v", err)

	st, err := lab.GetStatus(tl.Name)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range st.Nodes {
		for _, i := range n.Interfaces {
			if n.Name == "leaf2" && i.Name == "vx0" {
				if i.State != "up" || i.Overlay == nil || i.Overlay.VNI != 4242 || len(i.Overlay.Remotes) != 2 || i.MTU != 1450 {
					t.Errorf("status of leaf2:vx0: %+v, overlay %+v", i, i.Overlay)
				}
			}
		}
	}

	// A tunnel is no cable: link down names the underlay, whose cut
	// takes the node off the overlay, and whose join brings it back.
	ctx := context.Background()
	if err := lab.Cut(ctx, tl.Name, "leaf3", "vx0", false, lab.Options{}); err == nil || !strings.Contains(err.Error(), "cut its underlay (leaf3:up)") {
		t.Errorf("cut leaf3:vx0: %v, want an error naming the underlay", err)
	}
	if err := lab.Cut(ctx, tl.Name, "leaf3", "up", false, lab.Options{}); err != nil {
		t.Fatal(err)
	}
	expectPing(t, tl, "underlay cut", "leaf1", false, o+".3")
	expectPing(t, tl, "underlay cut", "leaf1", true, o+".2")
	if err := lab.Cut(ctx, tl.Name, "leaf3", "up", true, lab.Options{}); err != nil {
		t.Fatal(err)
	}
	expectPing(t, tl, "underlay joined", "leaf1", true, o+".3")
}

// listenUDP opens a UDP socket in a node and returns a channel that gets
// the size of the first datagram (0 after 3 s without one).
func listenUDP(t *testing.T, ns, addr string) <-chan int {
	t.Helper()
	var pc net.PacketConn
	err := kernel.Do(kernel.NetnsPath(ns), func() (err error) {
		pc, err = net.ListenPacket("udp4", addr)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	out := make(chan int, 1)
	go func() {
		buf := make([]byte, 65536)
		pc.SetReadDeadline(time.Now().Add(3 * time.Second))
		n, _, _ := pc.ReadFrom(buf)
		out <- n
	}()
	return out
}

// sendDF sends size bytes of UDP payload from a node with don't-fragment
// set: the kernel refuses one larger than the route's MTU at once.
func sendDF(ns, addr string, size int) error {
	ap := netip.MustParseAddrPort(addr)
	return kernel.Do(kernel.NetnsPath(ns), func() error {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_MTU_DISCOVER, unix.IP_PMTUDISC_DO); err != nil {
			return err
		}
		sa := &unix.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().As4()}
		if err := unix.Sendto(fd, make([]byte, size), 0, sa); err != nil {
			return fmt.Errorf("sending %d bytes: %w", size, err)
		}
		return nil
	})
}
