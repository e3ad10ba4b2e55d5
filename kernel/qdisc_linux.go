package kernel

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
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
	if err := o.applyQdisc(c); err != nil {
		return err
	}
	nft := o.Shape != nil && o.Shape.NftLoss && o.Shape.Loss > 0
	if !nft && !o.Replace {
		return nil // a link made anew has no loss rule to take away
	}
	ns, dev, hook := o.lossEnd()
	if ns == "" {
		return nil
	}
	loss := 0.0
	if nft {
		loss = o.Shape.Loss
	}
	return setLossRule(ns, dev, hook, loss)
}

func (o *QdiscSet) applyQdisc(c *Conn) error {
	h, l, err := findLink(c, o.NS, o.Name)
	if err != nil {
		return err
	}
	if l == nil {
		return opErr(o.NS, "shaping "+o.Name, fmt.Errorf("no link %s", o.Name))
	}
	qs := o.Shape.qdiscShape()
	if qs == nil {
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
	if err := h.QdiscReplace(qs.qdisc(l.Attrs().Index, major)); err != nil {
		return opErr(o.NS, fmt.Sprintf("shaping %s (%s)", o.Name, qs), qdiscErr(qs.Kind(), err))
	}
	return nil
}

// qdiscErr names the missing kernel module when the kernel does not know
// the qdisc.
func qdiscErr(kind string, err error) error {
	if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.EOPNOTSUPP) {
		return fmt.Errorf("%w: this kernel has no %s qdisc (module sch_%s): %s", err, kind, kind, ModuleAdvice("sch_"+kind, "CONFIG_NET_SCH_"+strings.ToUpper(kind)))
	}
	return err
}

// setLossRule makes the loss rule of the link dev in namespace ns on hook
// (egress or ingress): loss percent of its packets dropped at random, or
// with loss 0 none (the chain taken away, and the table when it is left
// empty).
func setLossRule(ns, dev, hook string, loss float64) error {
	var err error
	doErr := Do(NetnsPath(ns), func() error {
		err = lossRule(dev, hook, loss)
		return nil
	})
	if doErr != nil {
		return opErr(ns, "entering the namespace", doErr)
	}
	if err != nil {
		what := fmt.Sprintf("dropping %v%% of what leaves %s through nftables", loss, dev)
		if loss == 0 {
			what = "taking the nftables loss off " + dev
		}
		if noNftables(err) {
			err = fmt.Errorf("%w: a loss without netem needs nf_tables with the netdev family (modules nf_tables, nf_tables_netdev; the egress hook needs Linux 5.16): load them, or sch_netem", err)
		}
		return opErr(ns, what, err)
	}
	return nil
}

// lossRule runs in the namespace.
func lossRule(dev, hook string, loss float64) error {
	c, err := nftables.New()
	if err != nil {
		return err
	}
	defer c.CloseLasting()
	t := &nftables.Table{Name: LossTable, Family: nftables.TableFamilyNetdev}
	chains, err := lossChains(c)
	if err != nil {
		return err
	}
	name := lossChain(dev, hook)
	had := slices.Contains(chains, name)
	if loss == 0 && !had {
		return nil
	}
	if had {
		c.DelChain(&nftables.Chain{Name: name, Table: t})
	}
	if loss == 0 {
		if len(chains) == 1 {
			c.DelTable(t)
		}
		return c.Flush()
	}
	hooknum := nftables.ChainHookEgress
	if hook == "ingress" {
		hooknum = nftables.ChainHookIngress
	}
	accept := nftables.ChainPolicyAccept
	c.AddTable(t)
	ch := c.AddChain(&nftables.Chain{Name: name, Table: t, Type: nftables.ChainTypeFilter, Hooknum: hooknum,
		Priority: nftables.ChainPriorityFilter, Device: dev, Policy: &accept})
	c.AddRule(&nftables.Rule{Table: t, Chain: ch, Exprs: cat(Block{Loss: loss}.draw(), verdict(expr.VerdictDrop))})
	return c.Flush()
}

// lossChains lists the chains of the loss table, none when there is no
// table.
func lossChains(c *nftables.Conn) ([]string, error) {
	tables, err := c.ListTablesOfFamily(nftables.TableFamilyNetdev)
	if err != nil {
		if noNftables(err) {
			return nil, nil
		}
		return nil, err
	}
	if !slices.ContainsFunc(tables, func(x *nftables.Table) bool { return x.Name == LossTable }) {
		return nil, nil
	}
	chains, err := c.ListChainsOfTableFamily(nftables.TableFamilyNetdev)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, ch := range chains {
		if ch.Table != nil && ch.Table.Name == LossTable {
			out = append(out, ch.Name)
		}
	}
	return out, nil
}

// LossRule reads the loss that an nftables rule draws on the link dev of
// namespace ns at hook (egress or ingress; see QdiscSet): ok false when
// there is none.
//
// Equivalent to: ip netns exec NS nft list chain netdev nslab-loss out-DEV
func LossRule(ns, dev, hook string) (loss float64, ok bool, err error) {
	doErr := Do(NetnsPath(ns), func() error {
		loss, ok, err = readLossRule(dev, hook)
		return nil
	})
	if doErr != nil {
		return 0, false, opErr(ns, "entering the namespace", doErr)
	}
	if err != nil {
		return 0, false, opErr(ns, "reading the nftables loss of "+dev, err)
	}
	return loss, ok, nil
}

func readLossRule(dev, hook string) (float64, bool, error) {
	c, err := nftables.New()
	if err != nil {
		return 0, false, err
	}
	defer c.CloseLasting()
	chains, err := lossChains(c)
	name := lossChain(dev, hook)
	if err != nil || !slices.Contains(chains, name) {
		return 0, false, err
	}
	t := &nftables.Table{Name: LossTable, Family: nftables.TableFamilyNetdev}
	rules, err := c.GetRules(t, &nftables.Chain{Name: name, Table: t})
	if err != nil {
		return 0, false, err
	}
	for _, r := range rules {
		loss := 100.0
		for _, e := range r.Exprs {
			if cmp, ok := e.(*expr.Cmp); ok && cmp.Op == expr.CmpOpLt && len(cmp.Data) == 4 {
				loss = float64(binary.BigEndian.Uint32(cmp.Data)) * 100 / lossBasis
			}
		}
		return loss, true, nil
	}
	return 0, false, nil
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
			return withLossRule(&Shape{Rate: q.Rate * 8}, ns, name)
		case *netlink.Netem:
			return netemShape(q), nil
		}
	}
	return withLossRule(nil, ns, name)
}

// withLossRule adds to s the loss an nftables rule draws on what leaves
// the link name of namespace ns (see QdiscSet), if any.
func withLossRule(s *Shape, ns, name string) (*Shape, error) {
	if ns == "" {
		return s, nil
	}
	loss, ok, err := LossRule(ns, name, "egress")
	if err != nil || !ok {
		return s, err
	}
	if s == nil {
		s = &Shape{}
	}
	s.Loss, s.NftLoss = loss, true
	return s, nil
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
