package kernel

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Shape limits and degrades what leaves an interface: a rate (bits per
// second), a delay with jitter, and a share of packets lost (percent).
// A rate alone is a tbf qdisc; delay, jitter or loss need netem, which
// then also applies the rate.
type Shape struct {
	Rate          uint64
	Delay, Jitter time.Duration
	Loss          float64
	// Duplicate, Reorder and Corrupt are percents of the packets netem
	// sends twice, sends at once ahead of the delayed ones (Reorder needs
	// Delay) and sends with a bit flipped.
	Duplicate, Reorder, Corrupt float64
	// MTU is the link's, 0 for the kernel's default: tbf's bucket holds
	// at least a packet.
	MTU int
	// NftLoss says the loss is drawn by an nftables rule (see LossTable),
	// not by netem: on a kernel without sch_netem, a shape of a loss
	// alone (with or without a rate) is made that way.
	NftLoss bool
}

// Netem reports whether the shape needs the netem qdisc.
func (s *Shape) Netem() bool {
	return s.NetemBeyondLoss() || s.Loss > 0 && !s.NftLoss
}

// NetemBeyondLoss reports whether the shape needs netem for more than a
// loss: delay, jitter, duplicate, reorder or corrupt, which only netem
// makes. A loss alone can be drawn by nftables instead (NftLoss).
func (s *Shape) NetemBeyondLoss() bool {
	return s.Delay > 0 || s.Jitter > 0 || s.Duplicate > 0 || s.Reorder > 0 || s.Corrupt > 0
}

// qdiscShape is the part of the shape a qdisc makes: nil when its loss is
// drawn by nftables and it has no rate.
func (s *Shape) qdiscShape() *Shape {
	if s == nil || s.NftLoss && s.Rate == 0 && !s.NetemBeyondLoss() {
		return nil
	}
	return s
}

// Kind is the qdisc the shape is made of.
func (s *Shape) Kind() string {
	if s.Netem() {
		return "netem"
	}
	return "tbf"
}

// tbf's queue: what a link of the rate sends in tbfLatency, and the
// burst the bucket holds: what it sends in tbfBurstTime, at least
// tbfMinBurst and ten packets. A bucket smaller than a veth's GSO packet
// (up to 64 KiB) makes tbf send it as segments, paced one by one as on a
// real link; a larger one at a low rate sends in bursts of 64 KiB.
const (
	tbfLatency   = 50 * time.Millisecond
	tbfBurstTime = 10 * time.Millisecond
	tbfMinBurst  = 16 * 1024
)

// netemLimit is netem's queue in packets. Every delayed packet waits in
// it, so it holds twice what the link carries in delay+jitter (full-size
// packets at the rate, or at vethRate without one), and at least tc's
// default of 1000.
func (s *Shape) netemLimit() uint32 {
	rate := float64(s.Rate)
	if rate == 0 {
		rate = vethRate
	}
	pkts := 2 * rate / 8 / 1514 * (s.Delay + s.Jitter).Seconds()
	return uint32(min(max(pkts, 1000), 1<<24))
}

// vethRate is about what a veth pair carries here (bits per second).
const vethRate = 15e9

func (s *Shape) burst() uint32 {
	mtu := s.MTU
	if mtu == 0 {
		mtu = 1500
	}
	return uint32(max(uint64(tbfBurstTime.Seconds()*float64(s.Rate/8)), tbfMinBurst, uint64(10*(mtu+14))))
}

func (s *Shape) tbfLimit() uint32 {
	return uint32(min(uint64(tbfLatency.Seconds()*float64(s.Rate/8))+uint64(s.burst()), 1<<31))
}

// String renders the shape as tc's arguments.
func (s *Shape) String() string {
	var b strings.Builder
	if !s.Netem() {
		fmt.Fprintf(&b, "tbf rate %s burst %d limit %d", tcRate(s.Rate), s.burst(), s.tbfLimit())
		return b.String()
	}
	fmt.Fprintf(&b, "netem limit %d", s.netemLimit())
	if s.Delay > 0 || s.Jitter > 0 {
		fmt.Fprintf(&b, " delay %s", tcTime(s.Delay))
		if s.Jitter > 0 {
			fmt.Fprintf(&b, " %s", tcTime(s.Jitter))
		}
	}
	if s.Loss > 0 {
		fmt.Fprintf(&b, " loss %s%%", strconv.FormatFloat(s.Loss, 'f', -1, 64))
	}
	for _, x := range []struct {
		key string
		pct float64
	}{{"duplicate", s.Duplicate}, {"reorder", s.Reorder}, {"corrupt", s.Corrupt}} {
		if x.pct > 0 {
			fmt.Fprintf(&b, " %s %s%%", x.key, strconv.FormatFloat(x.pct, 'f', -1, 64))
		}
	}
	if s.Rate > 0 {
		fmt.Fprintf(&b, " rate %s", tcRate(s.Rate))
	}
	return b.String()
}

func tcRate(bits uint64) string {
	for _, u := range []struct {
		n    uint64
		unit string
	}{{1e12, "tbit"}, {1e9, "gbit"}, {1e6, "mbit"}, {1e3, "kbit"}} {
		if bits >= u.n && bits%u.n == 0 {
			return fmt.Sprintf("%d%s", bits/u.n, u.unit)
		}
	}
	return fmt.Sprintf("%dbit", bits)
}

func tcTime(d time.Duration) string {
	if d%time.Millisecond == 0 {
		return fmt.Sprintf("%dms", d/time.Millisecond)
	}
	return fmt.Sprintf("%dus", d/time.Microsecond)
}

// QdiscSet shapes what leaves a link (a root qdisc made of Shape), or,
// with Shape nil, takes the shaping off.
//
// A shaped link gets a new qdisc in one step (grafted in place of the
// old one under the other handle, 1: or 2:), never a change of the one
// there: the packets it holds are dropped. Changed in place, tbf keeps
// the packets it took under the old bucket, and one larger than the new
// bucket never leaves: the link stalls (seen when going from 20mbit to
// 5mbit under load).
//
// Equivalent to: tc [-n NS] qdisc add dev NAME root handle 1: SHAPE, after
// tc [-n NS] qdisc del dev NAME root when the link is shaped already (but
// with no moment unshaped between).
//
// A loss drawn by nftables (Shape.NftLoss) is a rule in the table netdev
// nslab-loss of a node's namespace (see LossTable): on the egress hook of
// the link when it is in a node's namespace, otherwise (the host's end
// of a bridge port or host cable) on the ingress hook of its peer, which
// is: what leaves the link is what arrives at the peer.
type QdiscSet struct {
	NS, Name string
	// PeerNS and PeerName are the other end of the veth pair.
	PeerNS, PeerName string
	Shape            *Shape
	// Replace says the link is shaped already: String then takes the old
	// shaping off first, as a hand-typed change must (Apply needs not),
	// and Apply takes away a loss rule it may have (not rendered: the
	// chain is there only when a loss was drawn by nftables).
	Replace bool
}

func (o *QdiscSet) Namespace() string { return o.NS }

func (o *QdiscSet) String() string {
	tc := "tc"
	if o.NS != "" {
		tc += " -n " + o.NS
	}
	del := fmt.Sprintf("%s qdisc del dev %s root", tc, o.Name)
	qs := o.Shape.qdiscShape()
	var out []string
	switch {
	case qs == nil && (o.Replace || o.Shape == nil):
		out = append(out, del)
	case qs != nil:
		if o.Replace {
			out = append(out, del)
		}
		out = append(out, fmt.Sprintf("%s qdisc add dev %s root handle 1: %s", tc, o.Name, qs))
	}
	ns, dev, hook := o.lossEnd()
	if o.Shape != nil && o.Shape.NftLoss && o.Shape.Loss > 0 {
		out = append(out, lossRuleString(ns, dev, hook, o.Shape.Loss))
	}
	return lines(out...)
}

// lossEnd is where a loss drawn by nftables of what leaves the link is
// made: the namespace, device and hook ("egress" or "ingress").
func (o *QdiscSet) lossEnd() (ns, dev, hook string) {
	if o.NS != "" || o.PeerNS == "" {
		return o.NS, o.Name, "egress"
	}
	return o.PeerNS, o.PeerName, "ingress"
}

// LossTable is the nftables table (netdev family) in a node's namespace
// that holds the losses drawn by nftables: one base chain per link and
// hook, named out-DEV (egress) or in-DEV (ingress).
const LossTable = "nslab-loss"

func lossChain(dev, hook string) string {
	if hook == "ingress" {
		return "in-" + dev
	}
	return "out-" + dev
}

func lossRuleString(ns, dev, hook string, loss float64) string {
	return fmt.Sprintf("ip netns exec %s nft -f - <<'EOF'\ntable netdev %s {\n  chain %s { type filter hook %s device %s priority 0;\n    %s\n  }\n}\nEOF",
		ns, LossTable, lossChain(dev, hook), hook, dev, Block{Loss: loss}.drawString()+" drop")
}
