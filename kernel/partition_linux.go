package kernel

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"slices"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

func (o *Partition) Apply(*Conn) error {
	var err error
	doErr := Do(NetnsPath(o.NS), func() error {
		err = o.apply()
		return nil
	})
	if doErr != nil {
		return opErr(o.NS, "entering the namespace", doErr)
	}
	return err
}

// apply runs in the node's namespace.
func (o *Partition) apply() error {
	c, err := nftables.New()
	if err != nil {
		return opErr(o.NS, "opening nftables", err)
	}
	defer c.CloseLasting()
	t := &nftables.Table{Name: PartitionTable, Family: nftables.TableFamilyINet}
	tables, err := c.ListTablesOfFamily(nftables.TableFamilyINet)
	if err != nil && !noNftables(err) {
		return opErr(o.NS, "listing nftables tables", err)
	}
	if slices.ContainsFunc(tables, func(x *nftables.Table) bool { return x.Name == PartitionTable }) {
		c.DelTable(t)
	}
	if !o.empty() {
		o.table(c, t)
	}
	if err := c.Flush(); err != nil {
		if noNftables(err) {
			return opErr(o.NS, "partitioning", fmt.Errorf("%w: a partition needs nf_tables in the kernel (modules nf_tables, nft_inet)", err))
		}
		if o.empty() && errors.Is(err, unix.ENOENT) {
			return nil
		}
		return opErr(o.NS, "writing the nftables table inet "+PartitionTable, err)
	}
	return nil
}

func (o *Partition) table(c *nftables.Conn, t *nftables.Table) {
	c.AddTable(t)
	sets := map[bool]*nftables.Set{}
	for _, v6 := range []bool{false, true} {
		s := &nftables.Set{Table: t, Name: "drop4", KeyType: nftables.TypeIPAddr}
		if v6 {
			s = &nftables.Set{Table: t, Name: "drop6", KeyType: nftables.TypeIP6Addr}
		}
		var elems []nftables.SetElement
		for _, a := range o.Drop {
			if a.Is6() == v6 {
				elems = append(elems, nftables.SetElement{Key: a.AsSlice()})
			}
		}
		c.AddSet(numbered(s), elems)
		sets[v6] = s
	}
	accept := nftables.ChainPolicyAccept
	for _, h := range []struct {
		name string
		hook *nftables.ChainHook
		src  bool
	}{{"input", nftables.ChainHookInput, true}, {"output", nftables.ChainHookOutput, false}} {
		ch := c.AddChain(&nftables.Chain{Name: h.name, Table: t, Hooknum: h.hook, Priority: nftables.ChainPriorityFilter, Type: nftables.ChainTypeFilter, Policy: &accept})
		for _, v6 := range []bool{false, true} {
			a := netip.IPv4Unspecified()
			if v6 {
				a = netip.IPv6Unspecified()
			}
			off, n := addrOffset(a, h.src)
			c.AddRule(&nftables.Rule{Table: t, Chain: ch, Exprs: cat(nfproto(a), []expr.Any{
				&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: off, Len: n},
				&expr.Lookup{SourceRegister: 1, SetName: sets[v6].Name, SetID: sets[v6].ID},
			}, verdict(expr.VerdictDrop))})
		}
		dev := expr.MetaKeyOIFNAME
		if h.src {
			dev = expr.MetaKeyIIFNAME
		}
		for _, d := range o.Scoped {
			for _, n := range d.Devs {
				for _, a := range d.Addrs {
					c.AddRule(&nftables.Rule{Table: t, Chain: ch, Exprs: cat([]expr.Any{
						&expr.Meta{Key: dev, Register: 1},
						&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: ifname(n)},
					}, addrMatch(a, h.src), verdict(expr.VerdictDrop))})
				}
			}
		}
		if h.src && len(o.Block) > 0 {
			// Neighbour discovery passes a block: a node that cannot
			// resolve its peer's address could not send it anything,
			// and a block is one way.
			c.AddRule(&nftables.Rule{Table: t, Chain: ch, Exprs: cat(ndType(), verdict(expr.VerdictAccept))})
			for _, b := range o.Block {
				for _, a := range b.From {
					if len(b.Devs) == 0 {
						c.AddRule(&nftables.Rule{Table: t, Chain: ch, Exprs: cat(addrMatch(a, true), b.draw(), verdict(expr.VerdictDrop))})
					}
					for _, n := range b.Devs {
						c.AddRule(&nftables.Rule{Table: t, Chain: ch, Exprs: cat([]expr.Any{
							&expr.Meta{Key: expr.MetaKeyIIFNAME, Register: 1},
							&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: ifname(n)},
						}, addrMatch(a, true), b.draw(), verdict(expr.VerdictDrop))})
					}
				}
			}
		}
	}
}

// ndType matches ICMPv6 neighbour solicitations and advertisements.
func ndType() []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.IPPROTO_ICMPV6}},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 0, Len: 1},
		&expr.Range{Op: expr.CmpOpEq, Register: 1, FromData: []byte{135}, ToData: []byte{136}},
	}
}

// draw matches the share of packets the block's loss takes: numgen
// random mod 10000, in network order, below the threshold.
func (b Block) draw() []expr.Any {
	th := b.threshold()
	if th == 0 {
		return nil
	}
	return []expr.Any{
		&expr.Numgen{Register: 1, Modulus: lossBasis, Type: unix.NFT_NG_RANDOM},
		&expr.Byteorder{SourceRegister: 1, DestRegister: 1, Op: expr.ByteorderHton, Len: 4, Size: 4},
		&expr.Cmp{Op: expr.CmpOpLt, Register: 1, Data: binary.BigEndian.AppendUint32(nil, th)},
	}
}

// Partitioned lists those of the named namespaces that hold a partition
// table (see Partition); namespaces that are gone are left out.
//
// Equivalent to: ip netns exec NS nft list table inet nslab-partition, for each
func Partitioned(names []string) ([]string, error) {
	var out []string
	for _, ns := range names {
		var found bool
		var err error
		doErr := Do(NetnsPath(ns), func() error {
			found, err = hasPartitionTable()
			return nil
		})
		if errors.Is(doErr, fs.ErrNotExist) {
			continue
		}
		if doErr != nil {
			return nil, opErr(ns, "entering the namespace", doErr)
		}
		if err != nil {
			return nil, opErr(ns, "listing nftables tables", err)
		}
		if found {
			out = append(out, ns)
		}
	}
	return out, nil
}

// hasPartitionTable runs in a node's namespace.
func hasPartitionTable() (bool, error) {
	c, err := nftables.New()
	if err != nil {
		return false, err
	}
	defer c.CloseLasting()
	tables, err := c.ListTablesOfFamily(nftables.TableFamilyINet)
	if err != nil && !noNftables(err) {
		return false, err
	}
	return slices.ContainsFunc(tables, func(x *nftables.Table) bool { return x.Name == PartitionTable }), nil
}
