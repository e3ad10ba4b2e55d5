package capture

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"

	"golang.org/x/net/bpf"
)

// codegen emits a BPF program whose jumps go to labels, resolved at the
// end (BPF jumps only forward, conditional ones at most 255 instructions).
type codegen struct {
	prog []entry
	at   []int // label → position
}

type entry struct {
	ins    bpf.Instruction
	kind   int // plain, cond or goto
	jt, jf int // labels
}

const (
	plain = iota
	cond
	jmp
)

func (c *codegen) label() int             { c.at = append(c.at, -1); return len(c.at) - 1 }
func (c *codegen) place(l int)            { c.at[l] = len(c.prog) }
func (c *codegen) emit(i bpf.Instruction) { c.prog = append(c.prog, entry{ins: i}) }

func (c *codegen) jump(test bpf.JumpTest, val uint32, T, F int) {
	c.prog = append(c.prog, entry{ins: bpf.JumpIf{Cond: test, Val: val}, kind: cond, jt: T, jf: F})
}

func (c *codegen) goTo(l int) { c.prog = append(c.prog, entry{kind: jmp, jt: l}) }

func (c *codegen) assemble() ([]bpf.RawInstruction, error) {
	out := make([]bpf.Instruction, len(c.prog))
	for i, e := range c.prog {
		switch e.kind {
		case plain:
			out[i] = e.ins
		case jmp:
			out[i] = bpf.Jump{Skip: uint32(c.at[e.jt] - i - 1)}
		case cond:
			st, sf := c.at[e.jt]-i-1, c.at[e.jf]-i-1
			if st < 0 || sf < 0 || st > 255 || sf > 255 {
				return nil, fmt.Errorf("the filter is too long for classic BPF's jumps: make it shorter")
			}
			j := e.ins.(bpf.JumpIf)
			j.SkipTrue, j.SkipFalse = uint8(st), uint8(sf)
			out[i] = j
		}
	}
	return bpf.Assemble(out)
}

// Offsets in an Ethernet frame.
const (
	offType     = 12
	offIP4      = 14
	offIP4Frag  = 20
	offIP4P     = 23
	offIP4Src   = 26
	offIP4Dst   = 30
	offARPSpa   = 28
	offARPTpa   = 38
	offIP6Next  = 20
	offIP6Src   = 22
	offIP6Dst   = 38
	offIP6Ports = 54
)

// Primitives.

type always struct{}

func (always) gen(c *codegen, T, F int) { c.goTo(T) }

// load compares a loaded value: the size-byte field at off, masked
// when mask is not 0, equal to val.
type load struct {
	off, size uint32
	mask, val uint32
}

func (n load) gen(c *codegen, T, F int) {
	c.emit(bpf.LoadAbsolute{Off: n.off, Size: int(n.size)})
	if n.mask != 0 {
		c.emit(bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: n.mask})
	}
	c.jump(bpf.JumpEqual, n.val, T, F)
}

func etherType(t uint32) node { return load{off: offType, size: 2, val: t} }

type proto struct{ v4, v6 uint32 }

func (n proto) gen(c *codegen, T, F int) {
	var parts []node
	if n.v4 != 0 {
		parts = append(parts, and{etherType(0x0800), load{off: offIP4P, size: 1, val: n.v4}})
	}
	if n.v6 != 0 {
		parts = append(parts, and{etherType(0x86dd), load{off: offIP6Next, size: 1, val: n.v6}})
	}
	anyOf(parts...).gen(c, T, F)
}

func anyOf(ns ...node) node {
	out := ns[0]
	for _, n := range ns[1:] {
		out = or{out, n}
	}
	return out
}

func allOf(ns ...node) node {
	out := ns[0]
	for _, n := range ns[1:] {
		out = and{out, n}
	}
	return out
}

// directed joins the source and destination tests as dir asks.
func directed(dir int, s, d node) node {
	switch dir {
	case src:
		return s
	case dst:
		return d
	case both:
		return and{s, d}
	}
	return or{s, d}
}

// prefixAt tests that the address at off starts with prefix.
func prefixAt(off uint32, p netip.Prefix) node {
	b := p.Addr().AsSlice()
	bits := p.Bits()
	var parts []node
	for w := 0; w < len(b)/4 && bits > 0; w++ {
		mask := uint32(0xffffffff)
		if bits < 32 {
			mask <<= 32 - bits
		}
		v := binary.BigEndian.Uint32(b[w*4:]) & mask
		if mask == 0xffffffff {
			mask = 0
		}
		parts = append(parts, load{off: off + uint32(w*4), size: 4, mask: mask, val: v})
		bits -= 32
	}
	if len(parts) == 0 {
		return always{}
	}
	return allOf(parts...)
}

type ipNet struct {
	p   netip.Prefix
	dir int
}

func (n ipNet) gen(c *codegen, T, F int) {
	if n.p.Addr().Is4() {
		anyOf(
			and{etherType(0x0800), directed(n.dir, prefixAt(offIP4Src, n.p), prefixAt(offIP4Dst, n.p))},
			and{etherType(0x0806), directed(n.dir, prefixAt(offARPSpa, n.p), prefixAt(offARPTpa, n.p))},
		).gen(c, T, F)
		return
	}
	and{etherType(0x86dd), directed(n.dir, prefixAt(offIP6Src, n.p), prefixAt(offIP6Dst, n.p))}.gen(c, T, F)
}

type ipHost struct {
	a   netip.Addr
	dir int
}

func (n ipHost) gen(c *codegen, T, F int) {
	ipNet{netip.PrefixFrom(n.a, n.a.BitLen()), n.dir}.gen(c, T, F)
}

// notFragment passes an IPv4 packet that is no later fragment: its
// transport header is there.
type notFragment struct{}

func (notFragment) gen(c *codegen, T, F int) {
	c.emit(bpf.LoadAbsolute{Off: offIP4Frag, Size: 2})
	c.jump(bpf.JumpBitsSet, 0x1fff, F, T)
}

// port4 tests the 16-bit field at off in the IPv4 packet's transport
// header, past a header of any length.
type port4 struct{ off, val uint32 }

func (n port4) gen(c *codegen, T, F int) {
	c.emit(bpf.LoadMemShift{Off: offIP4})
	c.emit(bpf.LoadIndirect{Off: offIP4 + n.off, Size: 2})
	c.jump(bpf.JumpEqual, n.val, T, F)
}

type port struct {
	protos []uint32
	n      uint32
	dir    int
}

func (n port) gen(c *codegen, T, F int) {
	var parts []node
	for _, p := range n.protos {
		parts = append(parts, allOf(etherType(0x0800), load{off: offIP4P, size: 1, val: p}, notFragment{},
			directed(n.dir, port4{0, n.n}, port4{2, n.n})))
	}
	for _, p := range n.protos {
		parts = append(parts, allOf(etherType(0x86dd), load{off: offIP6Next, size: 1, val: p},
			directed(n.dir, load{off: offIP6Ports, size: 2, val: n.n}, load{off: offIP6Ports + 2, size: 2, val: n.n})))
	}
	anyOf(parts...).gen(c, T, F)
}

type etherHost struct {
	mac net.HardwareAddr
	dir int
}

func (n etherHost) gen(c *codegen, T, F int) {
	at := func(off uint32) node {
		return and{
			load{off: off, size: 4, val: binary.BigEndian.Uint32(n.mac[:4])},
			load{off: off + 4, size: 2, val: uint32(binary.BigEndian.Uint16(n.mac[4:]))},
		}
	}
	directed(n.dir, at(6), at(0)).gen(c, T, F)
}
