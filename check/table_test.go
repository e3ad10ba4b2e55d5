package check

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"
)

// naiveLookup is the longest-prefix match by scanning, with the
// kernel's tie-breaks: lower metric, then connected, then first.
func naiveLookup(routes []route, dst netip.Addr) (route, bool) {
	var best route
	found := false
	for _, r := range routes {
		if r.dst.Addr().Is4() != dst.Is4() || !r.dst.Contains(dst) {
			continue
		}
		if !found || r.dst.Bits() > best.dst.Bits() ||
			(r.dst.Bits() == best.dst.Bits() && (r.metric < best.metric ||
				(r.metric == best.metric && r.connected && !best.connected))) {
			best, found = r, true
		}
	}
	return best, found
}

// TestTableLookup compares the sorted tables with a scan, on tables
// large enough for binary search and small enough for scans.
func TestTableLookup(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	addr := func() netip.Addr {
		if r.IntN(2) == 0 {
			return netip.AddrFrom4([4]byte{10, byte(r.IntN(4)), byte(r.IntN(256)), byte(r.IntN(256))})
		}
		return netip.MustParseAddr(fmt.Sprintf("fd%02x:%x:%x::%x", r.IntN(4), r.IntN(4), r.IntN(300), r.IntN(9)))
	}
	for round := range 200 {
		var routes []route
		for i := range 1 + r.IntN(400) {
			a := addr()
			bits := []int{0, 8, 16, 24, 31, 32}[r.IntN(6)]
			if a.Is6() {
				bits = []int{0, 16, 48, 64, 96, 127, 128}[r.IntN(7)]
			}
			p, _ := a.Prefix(bits)
			routes = append(routes, route{dst: p, metric: r.IntN(3), connected: r.IntN(4) == 0, ifc: int32(i)})
		}
		tables := buildTables(append([]route(nil), routes...))
		for range 300 {
			dst := addr()
			if r.IntN(2) == 0 { // an address in a route's prefix
				dst = routes[r.IntN(len(routes))].dst.Addr()
			}
			want, wok := naiveLookup(routes, dst)
			got, gok := tables[family(dst)].lookup(dst)
			if wok != gok || (gok && got.ifc != want.ifc) {
				t.Fatalf("round %d: lookup(%s) = %+v, %v; want %+v, %v", round, dst, got, gok, want, wok)
			}
		}
	}
}
