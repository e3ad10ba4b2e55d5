package gen

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/bits"
	"net/netip"
)

// Default subnets of a one-segment lab (Star, Tree).
var (
	DefaultSubnet  = netip.MustParsePrefix("10.0.0.0/16")
	DefaultSubnet6 = netip.MustParsePrefix("fd10::/64")
)

// v4 returns the IPv4 address a.b.c.d.
func v4(a, b, c, d int) netip.Addr {
	return netip.AddrFrom4([4]byte{byte(a), byte(b), byte(c), byte(d)})
}

// v6addr returns the IPv6 address whose first groups are g, the rest zero.
func v6addr(g ...int) netip.Addr {
	var b [16]byte
	for i, x := range g {
		binary.BigEndian.PutUint16(b[2*i:], uint16(x))
	}
	return netip.AddrFrom16(b)
}

// add returns a+n, wrapping around the address space.
func add(a netip.Addr, n uint64) netip.Addr {
	if a.Is4() {
		b := a.As4()
		binary.BigEndian.PutUint32(b[:], binary.BigEndian.Uint32(b[:])+uint32(n))
		return netip.AddrFrom4(b)
	}
	b := a.As16()
	lo, carry := bits.Add64(binary.BigEndian.Uint64(b[8:]), n, 0)
	binary.BigEndian.PutUint64(b[8:], lo)
	binary.BigEndian.PutUint64(b[:8], binary.BigEndian.Uint64(b[:8])+carry)
	return netip.AddrFrom16(b)
}

// nth returns address n of subnet p, with p's length: an interface
// address.
func nth(p netip.Prefix, n int) netip.Prefix {
	return netip.PrefixFrom(add(p.Addr(), uint64(n)), p.Bits())
}

// block returns the n-th subnet of length bits from base.
func block(base netip.Addr, bits, n int) netip.Prefix {
	size := uint64(1) << (base.BitLen() - bits)
	return netip.PrefixFrom(add(base, uint64(n)*size), bits)
}

// pair returns the n-th point-to-point subnet (/31 and /127) of a pool,
// both ends: the even address, then the odd one.
func pair(pool family[netip.Addr], n int) (family[netip.Prefix], family[netip.Prefix]) {
	var even, odd family[netip.Prefix]
	even.v4 = netip.PrefixFrom(add(pool.v4, uint64(2*n)), 31)
	odd.v4 = netip.PrefixFrom(add(pool.v4, uint64(2*n+1)), 31)
	if pool.v6.IsValid() {
		even.v6 = netip.PrefixFrom(add(pool.v6, uint64(2*n)), 127)
		odd.v6 = netip.PrefixFrom(add(pool.v6, uint64(2*n+1)), 127)
	}
	return even, odd
}

// hostCapacity returns how many interface addresses subnet p holds:
// IPv4 leaves out the network and broadcast addresses, IPv6 the
// subnet-router anycast address.
func hostCapacity(p netip.Prefix) uint64 {
	free := p.Addr().BitLen() - p.Bits()
	if free >= 64 {
		return math.MaxUint64
	}
	if p.Addr().Is4() {
		return (uint64(1) << free) - 2
	}
	return (uint64(1) << free) - 1
}

// special lists the ranges whose addresses a lab cannot use on hosts.
var special = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("127.0.0.0/8"),
	netip.MustParsePrefix("169.254.0.0/16"),
	netip.MustParsePrefix("224.0.0.0/3"),
	netip.MustParsePrefix("::/96"),
	netip.MustParsePrefix("::ffff:0:0/96"),
	netip.MustParsePrefix("fe80::/10"),
	netip.MustParsePrefix("ff00::/8"),
}

// checkSubnet checks a subnet of the family named by fam ("IPv4") that
// must hold need interface addresses, and proposes a bigger one if it is
// too small.
func checkSubnet(flag string, p netip.Prefix, is4 bool, need int) error {
	fam, maxBits := "IPv6", 126
	if is4 {
		fam, maxBits = "IPv4", 30
	}
	switch {
	case p.Addr().Is4() != is4 || p.Addr().Is4In6():
		return fmt.Errorf("%s %s is not an %s subnet", flag, p, fam)
	case p != p.Masked():
		return fmt.Errorf("%s %s has host bits set; did you mean %s?", flag, p, p.Masked())
	case p.Bits() > maxBits:
		return fmt.Errorf("%s %s is too small for a segment; use a /%d or shorter", flag, p, maxBits)
	}
	for _, s := range special {
		if s.Overlaps(p) {
			return fmt.Errorf("%s %s overlaps %s, which hosts cannot use: choose a private subnet such as %s",
				flag, p, s, map[bool]netip.Prefix{true: DefaultSubnet, false: DefaultSubnet6}[is4])
		}
	}
	if hostCapacity(p) < uint64(need) {
		return fmt.Errorf("%s %s holds %d addresses, and %d are needed (the hosts and the host side of the bridge): use a bigger subnet, such as %s",
			flag, p, hostCapacity(p), need, bigger(p, need))
	}
	return nil
}

// bigger returns the smallest subnet around p that holds need addresses.
func bigger(p netip.Prefix, need int) netip.Prefix {
	q := p
	for q.Bits() > 0 && hostCapacity(q) < uint64(need) {
		q = netip.PrefixFrom(q.Addr(), q.Bits()-1).Masked()
	}
	return q
}
