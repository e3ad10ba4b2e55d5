package kernel

import (
	"net"
	"net/netip"
	"os"
	"slices"
	"testing"
)

func TestParseSockAddr(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want netip.AddrPort
	}{
		{"0100007F:1F90", netip.MustParseAddrPort("127.0.0.1:8080")},
		{"00000000:0035", netip.MustParseAddrPort("0.0.0.0:53")},
		{"00000000000000000000000001000000:0016", netip.MustParseAddrPort("[::1]:22")},
		{"0000000000000000FFFF00000100007F:0050", netip.MustParseAddrPort("127.0.0.1:80")},
		{"B80D0120000000000000000001000000:01BB", netip.MustParseAddrPort("[2001:db8::1]:443")},
	} {
		a, p, ok := parseSockAddr(tc.in)
		if !ok || netip.AddrPortFrom(a, p) != tc.want {
			t.Errorf("parseSockAddr(%q) = %v, %d, %v; want %v", tc.in, a, p, ok, tc.want)
		}
	}
}

// TestListenersFindsOwnSockets: the observer sees this process's TCP and
// UDP sockets, IPv4 and IPv6, and names it as their holder.
func TestListenersFindsOwnSockets(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to read every process's file descriptors")
	}
	tcp, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		t.Skip("no IPv6 loopback:", err)
	}
	defer tcp.Close()
	udp, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer udp.Close()
	tp, up := uint16(tcp.Addr().(*net.TCPAddr).Port), uint16(udp.LocalAddr().(*net.UDPAddr).Port)
	ls, err := Listeners([]uint16{tp, up})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []struct {
		proto, at string
	}{{"tcp", netip.AddrPortFrom(netip.IPv6Loopback(), tp).String()}, {"udp", netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), up).String()}} {
		i := slices.IndexFunc(ls, func(l Listener) bool { return l.Proto == want.proto && l.AddrPort() == want.at })
		if i < 0 {
			t.Errorf("no %s listener on %s in %+v", want.proto, want.at, ls)
			continue
		}
		if !slices.ContainsFunc(ls[i].Procs, func(p Proc) bool { return p.PID == os.Getpid() }) {
			t.Errorf("%s %s: holders %v, want pid %d", want.proto, want.at, ls[i].Procs, os.Getpid())
		}
	}
}
