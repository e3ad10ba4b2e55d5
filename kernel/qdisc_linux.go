package kernel

import (
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// qdisc is the shape as a root qdisc of the link, with handle major:0.
func (s *Shape) qdisc(index int, major uint16) netlink.Qdisc {
	attrs := netlink.QdiscAttrs{LinkIndex: index, Handle: netlink.MakeHandle(major, 0), Parent: netlink.HANDLE_ROOT}
	if !s.Netem() {
		rate := s.Rate / 8
		return &netlink.Tbf{QdiscAttrs: attrs, Rate: rate, Buffer: netlink.Xmittime(rate, s.burst()), Limit: s.tbfLimit()}
	}
	return netlink.NewNetem(attrs, netlink.NetemQdiscAttrs{
		Latency:     uint32(s.Delay / time.Microsecond),
		Jitter:      uint32(s.Jitter / time.Microsecond),
		Loss:        float32(s.Loss),
		Duplicate:   float32(s.Duplicate),
		ReorderProb: float32(s.Reorder),
		CorruptProb: float32(s.Corrupt),
		Limit:       s.netemLimit(),
		Rate64:      s.Rate / 8,
	})
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
// on most kernels), loss, duplicate, reorder and corrupt as fractions of
// 2^32-1. The netlink library
// converts both when it makes a qdisc, but not when it reads one back.
func netemShape(q *netlink.Netem) *Shape {
	usec := func(ticks uint32) time.Duration {
		return time.Duration(math.Round(float64(ticks)/netlink.TickInUsec())) * time.Microsecond
	}
	pct := func(f uint32) float64 { return math.Round(float64(f)/math.MaxUint32*100*1e4) / 1e4 }
	return &Shape{
		Rate:      q.Rate64 * 8,
		Delay:     usec(q.Latency),
		Jitter:    usec(q.Jitter),
		Loss:      pct(q.Loss),
		Duplicate: pct(q.Duplicate),
		Reorder:   pct(q.ReorderProb),
		Corrupt:   pct(q.CorruptProb),
	}
}
