package kernel

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Shape limits and degrades what leaves an interface: a rate (bits per
// second), a delay with jitter, and a share of packets lost (percent).
// A rate alone is a tbf qdisc; delay, jitter or loss need netem, which
// then also applies the rate.
type Shape struct {
	Rate          uint64
	Delay, Jitter time.Duration
	Loss          float64
	// MTU is the link's, 0 for the kernel's default: tbf's bucket holds
	// at least a packet.
	MTU int
}

// Netem reports whether the shape needs the netem qdisc.
func (s *Shape) Netem() bool { return s.Delay > 0 || s.Jitter > 0 || s.Loss > 0 }

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

// qdisc is the shape as a root qdisc of the link, with handle major:0.
func (s *Shape) qdisc(index int, major uint16) netlink.Qdisc {
	attrs := netlink.QdiscAttrs{LinkIndex: index, Handle: netlink.MakeHandle(major, 0), Parent: netlink.HANDLE_ROOT}
	if !s.Netem() {
		rate := s.Rate / 8
		return &netlink.Tbf{QdiscAttrs: attrs, Rate: rate, Buffer: netlink.Xmittime(rate, s.burst()), Limit: s.tbfLimit()}
	}
	return netlink.NewNetem(attrs, netlink.NetemQdiscAttrs{
		Latency: uint32(s.Delay / time.Microsecond),
		Jitter:  uint32(s.Jitter / time.Microsecond),
		Loss:    float32(s.Loss),
		Limit:   s.netemLimit(),
		Rate64:  s.Rate / 8,
	})
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
type QdiscSet struct {
	NS, Name string
	Shape    *Shape
	// Replace says the link is shaped already: String then takes the old
	// shaping off first, as a hand-typed change must (Apply needs not).
	Replace bool
}

func (o *QdiscSet) Namespace() string { return o.NS }

func (o *QdiscSet) String() string {
	tc := "tc"
	if o.NS != "" {
		tc += " -n " + o.NS
	}
	del := fmt.Sprintf("%s qdisc del dev %s root", tc, o.Name)
	if o.Shape == nil {
		return del
	}
	add := fmt.Sprintf("%s qdisc add dev %s root handle 1: %s", tc, o.Name, o.Shape)
	if o.Replace {
		return lines(del, add)
	}
	return add
}

func (o *QdiscSet) Apply(c *Conn) error {
	h, l, err := findLink(c, o.NS, o.Name)
	if err != nil {
		return err
	}
	if l == nil {
		return opErr(o.NS, "shaping "+o.Name, fmt.Errorf("no link %s", o.Name))
	}
	if o.Shape == nil {
		err := h.QdiscDel(&netlink.GenericQdisc{QdiscAttrs: netlink.QdiscAttrs{LinkIndex: l.Attrs().Index, Parent: netlink.HANDLE_ROOT}})
		if err != nil && !errors.Is(err, unix.ENOENT) && !errors.Is(err, unix.EINVAL) {
			return opErr(o.NS, "taking the shaping off "+o.Name, err)
		}
		return nil
	}
	major := uint16(1)
	if qs, err := h.QdiscList(l); err == nil {
		for _, q := range qs {
			if a := q.Attrs(); a.Parent == netlink.HANDLE_ROOT && a.Handle == netlink.MakeHandle(1, 0) {
				major = 2
			}
		}
	}
	if err := h.QdiscReplace(o.Shape.qdisc(l.Attrs().Index, major)); err != nil {
		return opErr(o.NS, fmt.Sprintf("shaping %s (%s)", o.Name, o.Shape), qdiscErr(o.Shape.Kind(), err))
	}
	return nil
}

// qdiscErr names the missing kernel module when the kernel does not know
// the qdisc.
func qdiscErr(kind string, err error) error {
	if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.EOPNOTSUPP) {
		return fmt.Errorf("%w: this kernel has no %s qdisc (module sch_%s): load it with modprobe sch_%s", err, kind, kind, kind)
	}
	return err
}

var qdiscProbes sync.Map // kind -> error

// QdiscSupported reports whether this kernel has the qdisc kind (tbf,
// netem): it tries one on the loopback of a throwaway namespace, once
// per process.
func QdiscSupported(kind string) error {
	if err, ok := qdiscProbes.Load(kind); ok {
		return nilOrErr(err)
	}
	s := &Shape{Rate: 1e9}
	if kind == "netem" {
		s.Delay = time.Millisecond
	}
	err := onThread(func() error {
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			return fmt.Errorf("unshare: %w", err)
		}
		return nil
	}, func() error {
		return netlink.QdiscAdd(s.qdisc(loIndex, 1))
	})
	qdiscProbes.Store(kind, err)
	return err
}

func nilOrErr(v any) error {
	if v == nil {
		return nil
	}
	return v.(error)
}

// LinkShape reads the shape of a link's root qdisc when it is a tbf or
// netem one (nil otherwise): what leaves the link, as the kernel has it.
func LinkShape(c *Conn, ns, name string) (*Shape, error) {
	h, l, err := findLink(c, ns, name)
	if err != nil || l == nil {
		return nil, err
	}
	qs, err := h.QdiscList(l)
	if err != nil {
		return nil, opErr(ns, "listing the qdiscs of "+name, err)
	}
	for _, q := range qs {
		if q.Attrs().Parent != netlink.HANDLE_ROOT {
			continue
		}
		switch q := q.(type) {
		case *netlink.Tbf:
			return &Shape{Rate: q.Rate * 8}, nil
		case *netlink.Netem:
			return netemShape(q), nil
		}
	}
	return nil, nil
}

// netemShape reads a netem qdisc as the kernel reports it: delay and
// jitter in the scheduler's ticks (/proc/net/psched; 15.625 a microsecond
// on most kernels), loss as a fraction of 2^32-1. The netlink library
// converts both when it makes a qdisc, but not when it reads one back.
func netemShape(q *netlink.Netem) *Shape {
	usec := func(ticks uint32) time.Duration {
		return time.Duration(math.Round(float64(ticks)/netlink.TickInUsec())) * time.Microsecond
	}
	return &Shape{
		Rate:   q.Rate64 * 8,
		Delay:  usec(q.Latency),
		Jitter: usec(q.Jitter),
		Loss:   math.Round(float64(q.Loss)/math.MaxUint32*100*1e4) / 1e4,
	}
}
