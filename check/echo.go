package check

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"net/netip"
	"time"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// IANA protocol numbers, as icmp.ParseMessage wants them.
const (
	protoICMP   = 1
	protoICMPv6 = 58
)

// payloadLen is the echo payload: an 8-byte nonce, the target index
// (4 bytes), the attempt (2 bytes) and 2 bytes of padding.
const payloadLen = 16

// echoID tells one Ping call's requests and answers apart from all other
// ICMP traffic a raw socket sees: the ICMP id, and a random nonce plus
// the target index and attempt in the payload, which the sequence number
// must agree with.
type echoID struct {
	id    uint16
	nonce [8]byte
	count int // requests per target
	// checkID is false on ping sockets, whose id the kernel chooses.
	checkID bool
}

func newEchoID(count int, checkID bool) echoID {
	e := echoID{count: count, checkID: checkID}
	rand.Read(e.nonce[:])
	e.id = binary.BigEndian.Uint16(e.nonce[6:])
	return e
}

// seq is the sequence number of a target's attempt.
func (e echoID) seq(idx, attempt int) int { return (idx*e.count + attempt) & 0xffff }

// request marshals the echo request of a target's attempt. ICMPv6
// checksums are left to the kernel.
func (e echoID) request(fam, idx, attempt int) ([]byte, error) {
	data := make([]byte, payloadLen)
	copy(data, e.nonce[:])
	binary.BigEndian.PutUint32(data[8:], uint32(idx))
	binary.BigEndian.PutUint16(data[12:], uint16(attempt))
	var typ icmp.Type = ipv4.ICMPTypeEcho
	if fam == v6 {
		typ = ipv6.ICMPTypeEchoRequest
	}
	m := icmp.Message{Type: typ, Body: &icmp.Echo{ID: int(e.id), Seq: e.seq(idx, attempt), Data: data}}
	b, err := m.Marshal(nil)
	if err != nil {
		return nil, fmt.Errorf("marshaling echo request: %w", err)
	}
	return b, nil
}

// answer is what a received ICMP message says about one of our
// requests: a reply, or an error report when err is set.
type answer struct {
	idx, attempt int
	err          string
	at           time.Time // when it was received
}

// parse matches a received ICMP message from the given sender against
// the requests sent to targets.
func (e echoID) parse(fam int, b []byte, from netip.Addr, targets []Target) (answer, bool) {
	proto := protoICMP
	if fam == v6 {
		proto = protoICMPv6
	}
	m, err := icmp.ParseMessage(proto, b)
	if err != nil {
		return answer{}, false
	}
	switch body := m.Body.(type) {
	case *icmp.Echo:
		if m.Type != ipv4.ICMPTypeEchoReply && m.Type != ipv6.ICMPTypeEchoReply {
			return answer{}, false
		}
		a, ok := e.decode(body.ID, body.Seq, body.Data, len(targets))
		return a, ok && targets[a.idx].Addr == from.Unmap()
	case *icmp.DstUnreach:
		return e.report(fam, body.Data, targets, describe(m, from))
	case *icmp.TimeExceeded:
		return e.report(fam, body.Data, targets, describe(m, from))
	}
	return answer{}, false
}

// report matches the request quoted in an ICMP error.
func (e echoID) report(fam int, quoted []byte, targets []Target, why string) (answer, bool) {
	dst, req, ok := innerEcho(fam, quoted)
	if !ok {
		return answer{}, false
	}
	id := int(binary.BigEndian.Uint16(req[4:]))
	seq := int(binary.BigEndian.Uint16(req[6:]))
	a, ok := e.decode(id, seq, req[8:], len(targets))
	a.err = why
	return a, ok && targets[a.idx].Addr == dst
}

// decode checks an echo's id, sequence and payload against ours and
// returns the target and attempt it answers.
func (e echoID) decode(id, seq int, data []byte, n int) (answer, bool) {
	if len(data) < payloadLen || !bytes.Equal(data[:8], e.nonce[:]) {
		return answer{}, false
	}
	if e.checkID && id != int(e.id) {
		return answer{}, false
	}
	a := answer{
		idx:     int(binary.BigEndian.Uint32(data[8:])),
		attempt: int(binary.BigEndian.Uint16(data[12:])),
	}
	ok := a.idx < n && a.attempt < e.count && seq == e.seq(a.idx, a.attempt)
	return a, ok
}

// innerEcho extracts the destination and the ICMP echo request quoted
// in an ICMP error (the offending packet's IP header and beginning).
func innerEcho(fam int, b []byte) (netip.Addr, []byte, bool) {
	var dst netip.Addr
	var req []byte
	var typ byte
	switch {
	case fam == v4 && len(b) >= ipv4.HeaderLen && b[9] == protoICMP:
		hl := int(b[0]&0x0f) * 4
		dst, req, typ = netip.AddrFrom4([4]byte(b[16:20])), b[min(hl, len(b)):], byte(ipv4.ICMPTypeEcho)
	case fam == v6 && len(b) >= ipv6.HeaderLen && b[6] == protoICMPv6:
		dst, req, typ = netip.AddrFrom16([16]byte(b[24:40])), b[ipv6.HeaderLen:], byte(ipv6.ICMPTypeEchoRequest)
	default:
		return netip.Addr{}, nil, false
	}
	return dst, req, len(req) >= 8+payloadLen && req[0] == typ
}

// describe renders an ICMP error, such as "host unreachable (reported
// by 10.0.1.1)".
func describe(m *icmp.Message, from netip.Addr) string {
	return fmt.Sprintf("%s (reported by %s)", reason(m), from)
}

func reason(m *icmp.Message) string {
	switch m.Type {
	case ipv4.ICMPTypeTimeExceeded:
		return "TTL exceeded"
	case ipv6.ICMPTypeTimeExceeded:
		return "hop limit exceeded"
	case ipv4.ICMPTypeDestinationUnreachable:
		return unreach4.name(m.Code)
	case ipv6.ICMPTypeDestinationUnreachable:
		return unreach6.name(m.Code)
	}
	return fmt.Sprintf("ICMP type %v code %d", m.Type, m.Code)
}

// Destination unreachable codes (RFC 792, RFC 1812, RFC 4443). Codes
// not listed read as plain "destination unreachable".
var (
	unreach4 = codeNames{0: "network unreachable", 1: "host unreachable", 9: "administratively prohibited",
		10: "administratively prohibited", 13: "administratively prohibited"}
	unreach6 = codeNames{0: "no route to destination", 1: "administratively prohibited",
		3: "address unreachable", 5: "source address failed policy", 6: "reject route"}
)

type codeNames map[int]string

func (c codeNames) name(code int) string {
	if s, ok := c[code]; ok {
		return s
	}
	return fmt.Sprintf("destination unreachable (code %d)", code)
}
