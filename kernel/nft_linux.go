package kernel

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// Apply replaces the lab's table in one transaction. A table of that name
// that nslab did not make is an error, and stays as it is.
func (o *Firewall) Apply(*Conn) error {
	c, err := nftables.New()
	if err != nil {
		return opErr("", "opening nftables", err)
	}
	defer c.CloseLasting()
	ours, exists, err := tableOurs(c, o.Lab)
	if err != nil {
		return opErr("", "listing nftables tables", err)
	}
	if exists && !ours {
		return fmt.Errorf("the nftables table inet %s exists and is not nslab's (it lacks the chain %s): nslab leaves it alone; remove it yourself or rename the lab", TableName(o.Lab), ownerChain(o.Lab))
	}
	t := &nftables.Table{Name: TableName(o.Lab), Family: nftables.TableFamilyINet}
	if exists {
		c.DelTable(t)
	}
	if err := o.build(c, t); err != nil {
		return err
	}
	if err := c.Flush(); err != nil {
		if noNftables(err) && len(o.Masquerade) == 0 && len(o.Publish) == 0 {
			return nil // isolation is what nf_tables gives; without it the lab still works
		}
		if noNftables(err) {
			return fmt.Errorf("lab %s masquerades or publishes ports, which needs nf_tables in the kernel (modules nf_tables, nft_nat, nft_masq, nft_fib, nft_ct): %w", o.Lab, err)
		}
		return opErr("", "writing the nftables table inet "+TableName(o.Lab), err)
	}
	return nil
}

// fwBatch is what Firewall.build writes to: an nftables connection, or
// a record of what would be written (see Seen).
type fwBatch interface {
	AddTable(*nftables.Table) *nftables.Table
	AddChain(*nftables.Chain) *nftables.Chain
	AddSet(*nftables.Set, []nftables.SetElement) error
	AddRule(*nftables.Rule) *nftables.Rule
}

// build adds the table t with its chains, set and rules to c. Each rule
// carries a comment with a digest of its expressions (see ruleComment).
func (o *Firewall) build(c fwBatch, t *nftables.Table) error {
	c.AddTable(t)
	c.AddChain(&nftables.Chain{Name: ownerChain(o.Lab), Table: t})
	// nft prints a string key as such only when the set says its key is in
	// host byte order (as nft itself marks it); without that, it reads
	// the NUL padding first and prints "".
	links := &nftables.Set{Table: t, Name: "links", KeyType: nftables.TypeIFName, KeyByteOrder: binaryutil.NativeEndian}
	var elems []nftables.SetElement
	for _, l := range o.Links {
		elems = append(elems, nftables.SetElement{Key: ifname(l)})
	}
	if err := c.AddSet(numbered(links), elems); err != nil {
		return opErr("", "adding the lab's set of links", err)
	}
	accept := nftables.ChainPolicyAccept
	chain := func(name string, hook *nftables.ChainHook, prio *nftables.ChainPriority, typ nftables.ChainType) *nftables.Chain {
		return c.AddChain(&nftables.Chain{Name: name, Table: t, Hooknum: hook, Priority: prio, Type: typ, Policy: &accept})
	}
	rule := func(ch *nftables.Chain, e ...expr.Any) {
		c.AddRule(&nftables.Rule{Table: t, Chain: ch, Exprs: e, UserData: ruleComment(e)})
	}
	// ruleAnon is rule for a rule that looks up anonymous sets with these
	// elements.
	ruleAnon := func(ch *nftables.Chain, anon [][]nftables.SetElement, e ...expr.Any) {
		c.AddRule(&nftables.Rule{Table: t, Chain: ch, Exprs: e, UserData: ruleComment(e, anon...)})
	}

	fwd := chain("forward", nftables.ChainHookForward, nftables.ChainPriorityFilter, nftables.ChainTypeFilter)
	rule(fwd, cat(inSet(unix.NFT_META_IIFNAME, links), inSet(unix.NFT_META_OIFNAME, links), verdict(expr.VerdictAccept))...)
	rule(fwd, cat(inSet(unix.NFT_META_OIFNAME, links), ctState(expr.CtStateBitESTABLISHED|expr.CtStateBitRELATED), verdict(expr.VerdictAccept))...)
	rule(fwd, cat(inSet(unix.NFT_META_OIFNAME, links), ctDNAT(), verdict(expr.VerdictAccept))...)
	rule(fwd, cat(inSet(unix.NFT_META_IIFNAME, links), ctState(expr.CtStateBitESTABLISHED|expr.CtStateBitRELATED), verdict(expr.VerdictAccept))...)
	for _, l := range o.Out {
		e := ifEq(unix.NFT_META_IIFNAME, l, true)
		for _, p := range NamePrefixes() {
			e = append(e, ifEq(unix.NFT_META_OIFNAME, p, false)...)
		}
		rule(fwd, cat(e, verdict(expr.VerdictAccept))...)
	}
	rule(fwd, cat(inSet(unix.NFT_META_IIFNAME, links), verdict(expr.VerdictDrop))...)
	rule(fwd, cat(inSet(unix.NFT_META_OIFNAME, links), verdict(expr.VerdictDrop))...)

	in := chain("input", nftables.ChainHookInput, nftables.ChainPriorityFilter, nftables.ChainTypeFilter)
	rule(in, cat(inSet(unix.NFT_META_IIFNAME, links), ctState(expr.CtStateBitESTABLISHED|expr.CtStateBitRELATED), verdict(expr.VerdictAccept))...)
	for _, a := range o.HostAddrs {
		rule(in, cat(inSet(unix.NFT_META_IIFNAME, links), addrMatch(a, false), verdict(expr.VerdictAccept))...)
	}
	icmp := &nftables.Set{Table: t, Anonymous: true, Constant: true, KeyType: nftables.TypeICMP6Type}
	var types []nftables.SetElement
	for _, t := range segmentICMPv6 {
		types = append(types, nftables.SetElement{Key: []byte{t.typ}})
	}
	if err := c.AddSet(numbered(icmp), types); err != nil {
		return opErr("", "adding the set of ICMPv6 types a segment needs", err)
	}
	ruleAnon(in, [][]nftables.SetElement{types}, cat(inSet(unix.NFT_META_IIFNAME, links), icmpv6Type(icmp), verdict(expr.VerdictAccept))...)
	rule(in, cat(inSet(unix.NFT_META_IIFNAME, links), verdict(expr.VerdictDrop))...)

	for _, hook := range []struct {
		name string
		h    *nftables.ChainHook
	}{{"prerouting", nftables.ChainHookPrerouting}, {"output", nftables.ChainHookOutput}} {
		ch := chain(hook.name, hook.h, nftables.ChainPriorityNATDest, nftables.ChainTypeNAT)
		for _, f := range o.Publish {
			if len(f.Daddrs) == 0 {
				rule(ch, cat(nfproto(f.To), fibLocal(), l4Port(f.Proto, f.HostPort), dnat(f.To, f.Port))...)
				continue
			}
			if len(f.Daddrs) == 1 {
				rule(ch, cat(addrMatch(f.Daddrs[0], false), l4Port(f.Proto, f.HostPort), dnat(f.To, f.Port))...)
				continue
			}
			daddrs := &nftables.Set{Table: t, Anonymous: true, Constant: true, KeyType: nftables.TypeIPAddr}
			if f.To.Is6() {
				daddrs.KeyType = nftables.TypeIP6Addr
			}
			var elems []nftables.SetElement
			for _, a := range f.Daddrs {
				elems = append(elems, nftables.SetElement{Key: a.AsSlice()})
			}
			if err := c.AddSet(numbered(daddrs), elems); err != nil {
				return opErr("", "adding the addresses of published port "+strconv.Itoa(int(f.HostPort)), err)
			}
			ruleAnon(ch, [][]nftables.SetElement{elems}, cat(addrInSet(f.To, daddrs), l4Port(f.Proto, f.HostPort), dnat(f.To, f.Port))...)
		}
	}
	post := chain("postrouting", nftables.ChainHookPostrouting, nftables.ChainPriorityNATSource, nftables.ChainTypeNAT)
	for _, p := range o.Masquerade {
		rule(post, cat(prefixMatch(p, true), notInSet(unix.NFT_META_OIFNAME, links), []expr.Any{&expr.Masq{}})...)
	}
	if len(o.Publish) > 0 {
		rule(post, cat(prefixMatch(netip.MustParsePrefix("127.0.0.0/8"), true), inSet(unix.NFT_META_OIFNAME, links), []expr.Any{&expr.Masq{}})...)
	}
	return nil
}

// icmpv6Type matches an ICMPv6 message whose type is in set s.
func icmpv6Type(s *nftables.Set) []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.NFPROTO_IPV6}},
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.IPPROTO_ICMPV6}},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 0, Len: 1},
		&expr.Lookup{SourceRegister: 1, SetName: s.Name, SetID: s.ID},
	}
}

// noNftables reports an error of a kernel without nf_tables.
func noNftables(err error) bool {
	return errors.Is(err, unix.EPROTONOSUPPORT) || errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.ENOENT) || errors.Is(err, unix.EAFNOSUPPORT)
}

func (o *FirewallDel) Apply(*Conn) error {
	c, err := nftables.New()
	if err != nil {
		return opErr("", "opening nftables", err)
	}
	defer c.CloseLasting()
	ours, _, err := tableOurs(c, o.Lab)
	if err != nil || !ours {
		return opErr("", "listing nftables tables", err)
	}
	c.DelTable(&nftables.Table{Name: TableName(o.Lab), Family: nftables.TableFamilyINet})
	if err := c.Flush(); err != nil && !errors.Is(err, unix.ENOENT) {
		return opErr("", "deleting the nftables table inet "+TableName(o.Lab), err)
	}
	return nil
}

// tableOurs reports whether the lab's table exists and carries nslab's
// owner chain. A kernel without nf_tables has none.
func tableOurs(c *nftables.Conn, lab string) (ours, exists bool, err error) {
	tables, err := c.ListTablesOfFamily(nftables.TableFamilyINet)
	if errors.Is(err, unix.EPROTONOSUPPORT) || errors.Is(err, os.ErrNotExist) {
		return false, false, nil
	}
	if err != nil {
		return false, false, err
	}
	if !slices.ContainsFunc(tables, func(t *nftables.Table) bool { return t.Name == TableName(lab) }) {
		return false, false, nil
	}
	chains, err := c.ListChainsOfTableFamily(nftables.TableFamilyINet)
	if err != nil {
		return false, true, err
	}
	for _, ch := range chains {
		if ch.Table.Name == TableName(lab) && ch.Name == ownerChain(lab) {
			return true, true, nil
		}
	}
	return false, true, nil
}

// NftTables lists the names of the inet tables nslab made, by lab.
func NftTables() (map[string]bool, error) {
	c, err := nftables.New()
	if err != nil {
		return nil, err
	}
	defer c.CloseLasting()
	chains, err := c.ListChainsOfTableFamily(nftables.TableFamilyINet)
	if err != nil {
		return nil, err
	}
	out := map[string]bool{}
	for _, ch := range chains {
		if lab, ok := strings.CutPrefix(ch.Name, ownerPrefix); ok && ch.Table.Name == TableName(lab) {
			out[lab] = true
		}
	}
	return out, nil
}

// The expressions of the rules.

func cat(parts ...[]expr.Any) []expr.Any {
	var out []expr.Any
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func verdict(k expr.VerdictKind) []expr.Any { return []expr.Any{&expr.Verdict{Kind: k}} }

// ifname pads an interface name as the kernel keeps it (IFNAMSIZ).
func ifname(n string) []byte {
	b := make([]byte, unix.IFNAMSIZ)
	copy(b, n)
	return b
}

func inSet(key uint32, s *nftables.Set) []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKey(key), Register: 1},
		&expr.Lookup{SourceRegister: 1, SetName: s.Name, SetID: s.ID},
	}
}

func notInSet(key uint32, s *nftables.Set) []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKey(key), Register: 1},
		&expr.Lookup{SourceRegister: 1, SetName: s.Name, SetID: s.ID, Invert: true},
	}
}

// ifEq matches an interface name exactly, or, with whole false, a name
// prefix that must not match (as oifname != "nb-*").
func ifEq(key uint32, name string, whole bool) []expr.Any {
	if whole {
		return []expr.Any{
			&expr.Meta{Key: expr.MetaKey(key), Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: ifname(name)},
		}
	}
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKey(key), Register: 1},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: []byte(name)},
	}
}

func ctState(bits uint32) []expr.Any {
	return []expr.Any{
		&expr.Ct{Register: 1, Key: expr.CtKeySTATE},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: binary.NativeEndian.AppendUint32(nil, bits), Xor: make([]byte, 4)},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: make([]byte, 4)},
	}
}

// ctDNAT matches connections whose destination was translated.
func ctDNAT() []expr.Any {
	const ipsDstNAT = 1 << 5
	return []expr.Any{
		&expr.Ct{Register: 1, Key: expr.CtKeySTATUS},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: binary.NativeEndian.AppendUint32(nil, ipsDstNAT), Xor: make([]byte, 4)},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: make([]byte, 4)},
	}
}

func nfproto(a netip.Addr) []expr.Any {
	p := byte(unix.NFPROTO_IPV4)
	if a.Is6() {
		p = unix.NFPROTO_IPV6
	}
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{p}},
	}
}

// addrOffsets are where the source and destination addresses are in an
// IPv4 and an IPv6 header.
func addrOffset(a netip.Addr, src bool) (off, n uint32) {
	switch {
	case a.Is4() && src:
		return 12, 4
	case a.Is4():
		return 16, 4
	case src:
		return 8, 16
	}
	return 24, 16
}

func addrMatch(a netip.Addr, src bool) []expr.Any {
	off, n := addrOffset(a, src)
	return cat(nfproto(a), []expr.Any{
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: off, Len: n},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: a.AsSlice()},
	})
}

// addrInSet matches a destination address, of a's family, in set s.
func addrInSet(a netip.Addr, s *nftables.Set) []expr.Any {
	off, n := addrOffset(a, false)
	return cat(nfproto(a), []expr.Any{
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: off, Len: n},
		&expr.Lookup{SourceRegister: 1, SetName: s.Name, SetID: s.ID},
	})
}

func prefixMatch(p netip.Prefix, src bool) []expr.Any {
	a := p.Masked().Addr()
	off, n := addrOffset(a, src)
	m := make([]byte, n)
	for i := 0; i < p.Bits(); i++ {
		m[i/8] |= 0x80 >> (i % 8)
	}
	return cat(nfproto(a), []expr.Any{
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: off, Len: n},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: n, Mask: m, Xor: make([]byte, n)},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: a.AsSlice()},
	})
}

// fibLocal matches packets to an address of the host (fib daddr type
// local).
func fibLocal() []expr.Any {
	return []expr.Any{
		&expr.Fib{Register: 1, FlagDADDR: true, ResultADDRTYPE: true},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binary.NativeEndian.AppendUint32(nil, unix.RTN_LOCAL)},
	}
}

func l4Port(proto string, port uint16) []expr.Any {
	p := byte(unix.IPPROTO_TCP)
	if proto == "udp" {
		p = unix.IPPROTO_UDP
	}
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{p}},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binary.BigEndian.AppendUint16(nil, port)},
	}
}

func dnat(to netip.Addr, port uint16) []expr.Any {
	fam := uint32(unix.NFPROTO_IPV4)
	if to.Is6() {
		fam = unix.NFPROTO_IPV6
	}
	return cat([]expr.Any{
		&expr.Immediate{Register: 1, Data: to.AsSlice()},
		&expr.Immediate{Register: 2, Data: binary.BigEndian.AppendUint16(nil, port)},
		&expr.NAT{Type: expr.NATTypeDestNAT, Family: fam, RegAddrMin: 1, RegProtoMin: 2, Specified: true},
	})
}
