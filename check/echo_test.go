package check

import (
	"net/netip"
	"testing"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// reply turns a marshaled echo request into the echo reply a peer sends.
func reply(t *testing.T, fam int, req []byte) []byte {
	t.Helper()
	proto, typ := protoICMP, icmp.Type(ipv4.ICMPTypeEchoReply)
	if fam == v6 {
		proto, typ = protoICMPv6, ipv6.ICMPTypeEchoReply
	}
	m, err := icmp.ParseMessage(proto, req)
	if err != nil {
		t.Fatal(err)
	}
	m.Type = typ
	b, err := m.Marshal(nil)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestEchoMatch(t *testing.T) {
	targets := []Target{
		{Addr: netip.MustParseAddr("10.0.0.2")},
		{Addr: netip.MustParseAddr("fd00::2")},
		{Addr: netip.MustParseAddr("10.0.0.3")},
	}
	ours := newEchoID(3, true)
	theirs := newEchoID(3, true)
	tests := []struct {
		name    string
		e       echoID // who sent the request
		fam     int
		idx     int
		attempt int
		from    string
		match   bool
	}{
		{"ipv4 reply", ours, v4, 2, 1, "10.0.0.3", true},
		{"ipv6 reply", ours, v6, 1, 2, "fd00::2", true},
		{"another prober's reply", theirs, v4, 2, 1, "10.0.0.3", false},
		{"reply from the wrong address", ours, v4, 2, 0, "10.0.0.2", false},
		{"attempt beyond count", ours, v4, 0, 3, "10.0.0.2", false},
		{"index beyond targets", ours, v4, 3, 0, "10.0.0.4", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := tt.e.request(tt.fam, tt.idx, tt.attempt)
			if err != nil {
				t.Fatal(err)
			}
			a, ok := ours.parse(tt.fam, reply(t, tt.fam, req), netip.MustParseAddr(tt.from), targets)
			if ok != tt.match {
				t.Fatalf("parse() matched = %v, want %v", ok, tt.match)
			}
			if ok && (a.idx != tt.idx || a.attempt != tt.attempt || a.err != "") {
				t.Errorf("parse() = %+v, want idx %d attempt %d", a, tt.idx, tt.attempt)
			}
		})
	}
}

func TestEchoOtherID(t *testing.T) {
	targets := []Target{{Addr: netip.MustParseAddr("10.0.0.2")}}
	e := newEchoID(3, true)
	other := e
	other.id++
	req, _ := other.request(v4, 0, 0)
	if _, ok := e.parse(v4, reply(t, v4, req), targets[0].Addr, targets); ok {
		t.Error("parse() matched a reply with another id")
	}
	e.checkID = false // ping sockets: the kernel owns the id
	if _, ok := e.parse(v4, reply(t, v4, req), targets[0].Addr, targets); !ok {
		t.Error("parse() without id check did not match")
	}
}

// TestEchoError checks that an ICMP error quoting our request is tied
// to its target and described.
func TestEchoError(t *testing.T) {
	targets := []Target{{Addr: netip.MustParseAddr("10.0.9.9")}, {Addr: netip.MustParseAddr("fd09::9")}}
	e := newEchoID(3, true)
	tests := []struct {
		fam  int
		idx  int
		want string
	}{
		{v4, 0, "host unreachable (reported by 10.0.1.1)"},
		{v6, 1, "address unreachable (reported by fd01::1)"},
	}
	for _, tt := range tests {
		req, _ := e.request(tt.fam, tt.idx, 2)
		var msg icmp.Message
		var from netip.Addr
		if tt.fam == v4 {
			h := make([]byte, ipv4.HeaderLen)
			h[0], h[9] = 0x45, protoICMP
			copy(h[16:], targets[tt.idx].Addr.AsSlice())
			msg = icmp.Message{Type: ipv4.ICMPTypeDestinationUnreachable, Code: 1, Body: &icmp.DstUnreach{Data: append(h, req...)}}
			from = netip.MustParseAddr("10.0.1.1")
		} else {
			h := make([]byte, ipv6.HeaderLen)
			h[0], h[6] = 0x60, protoICMPv6
			copy(h[24:], targets[tt.idx].Addr.AsSlice())
			msg = icmp.Message{Type: ipv6.ICMPTypeDestinationUnreachable, Code: 3, Body: &icmp.DstUnreach{Data: append(h, req...)}}
			from = netip.MustParseAddr("fd01::1")
		}
		b, err := msg.Marshal(nil)
		if err != nil {
			t.Fatal(err)
		}
		a, ok := e.parse(tt.fam, b, from, targets)
		if !ok || a.idx != tt.idx || a.attempt != 2 || a.err != tt.want {
			t.Errorf("parse(error) = %+v, %v; want idx %d attempt 2 err %q", a, ok, tt.idx, tt.want)
		}
	}
}
