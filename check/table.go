package check

import (
	"cmp"
	"encoding/binary"
	"net/netip"
	"slices"
)

// table is one family's routing table, arranged for longest-prefix
// match: the winning route of each destination prefix, sorted by prefix
// length (longest first), then by prefix address.
type table struct {
	routes []route
	// lens delimits the routes of each prefix length, longest first.
	lens []span
}

// span is the routes of one prefix length: routes[start:end].
type span struct {
	bits       int
	start, end int
}

// buildTables sorts routes in place and splits them by family for
// lookup. Of routes to the same prefix only the one the kernel would use
// is kept: the lowest metric, the connected route on a tie, else the
// first.
func buildTables(routes []route) [2]table {
	slices.SortStableFunc(routes, routeOrder)
	routes = slices.CompactFunc(routes, func(a, b route) bool { return a.dst == b.dst })
	split := len(routes)
	for i, r := range routes {
		if family(r.dst.Addr()) == v6 {
			split = i
			break
		}
	}
	return [2]table{newTable(routes[:split:split]), newTable(routes[split:])}
}

// routeOrder sorts routes by family, by prefix length (longest first),
// by prefix, then best first.
func routeOrder(a, b route) int {
	return cmp.Or(
		cmp.Compare(family(a.dst.Addr()), family(b.dst.Addr())),
		cmp.Compare(b.dst.Bits(), a.dst.Bits()),
		a.dst.Addr().Compare(b.dst.Addr()),
		cmp.Compare(a.metric, b.metric),
		cmp.Compare(rank(a), rank(b)),
	)
}

// rank puts a connected route before a static one.
func rank(r route) int {
	if r.connected {
		return 0
	}
	return 1
}

// newTable indexes routes sorted by prefix length, longest first.
func newTable(routes []route) table {
	t := table{routes: routes}
	for i := range routes {
		r := &routes[i]
		r.key = keyOf(r.dst.Addr())
		if n := len(t.lens); n == 0 || t.lens[n-1].bits != r.dst.Bits() {
			t.lens = append(t.lens, span{bits: r.dst.Bits(), start: i})
		}
		t.lens[len(t.lens)-1].end = i + 1
	}
	return t
}

// lookup returns the most specific route to dst.
func (t *table) lookup(dst netip.Addr) (*route, bool) {
	k := keyOf(dst)
	for _, l := range t.lens {
		if r := find(t.routes[l.start:l.end], k.masked(l.bits, dst.Is4())); r != nil {
			return r, true
		}
	}
	return nil, false
}

// key is an address as a 128-bit number (an IPv4 one in the low 32
// bits), which compares and masks in a few instructions.
type key struct{ hi, lo uint64 }

func keyOf(a netip.Addr) key {
	if a.Is4() {
		b := a.As4()
		return key{0, uint64(binary.BigEndian.Uint32(b[:]))}
	}
	b := a.As16()
	return key{binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])}
}

// masked keeps the first bits bits of the address.
func (k key) masked(bits int, is4 bool) key {
	if is4 {
		return key{0, k.lo &^ (1<<(32-bits) - 1)}
	}
	if bits <= 64 {
		return key{k.hi &^ (1<<(64-bits) - 1), 0}
	}
	return key{k.hi, k.lo &^ (1<<(128-bits) - 1)}
}

func (k key) less(o key) bool { return k.hi < o.hi || (k.hi == o.hi && k.lo < o.lo) }

// find returns the route to prefix address k among routes, which are
// sorted by it, or nil: a scan for the few routes of a host, a binary
// search beyond.
func find(routes []route, k key) *route {
	if len(routes) <= 8 {
		for i := range routes {
			if routes[i].key == k {
				return &routes[i]
			}
		}
		return nil
	}
	lo, hi := 0, len(routes)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if routes[m].key.less(k) {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo < len(routes) && routes[lo].key == k {
		return &routes[lo]
	}
	return nil
}
