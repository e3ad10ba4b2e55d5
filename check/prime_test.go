package check

import (
	"fmt"
	"testing"
)

// TestPrimes: the entries a wave primes are its probes' neighbours,
// there and back, once each, each with the interface that answers for
// it; a probe's second run through adds nothing.
func TestPrimes(t *testing.T) {
	w := newWorld(routedLab("router"))
	r := newReport(routedLab("router"), w.expectAll())
	var idx []int
	for i, p := range r.Probes {
		if p.From == "a" && p.To.String() == "10.0.2.2" {
			idx = append(idx, i, i)
		}
	}
	if len(idx) == 0 {
		t.Fatal("no probe a -> 10.0.2.2")
	}
	a, rt, b := w.byName["a"], w.byName["r"], w.byName["b"]
	// a resolves r's eth0, r resolves b's eth0; b resolves r's eth1,
	// r resolves a's eth0.
	want := fmt.Sprint([]primeEntry{
		{a, 0, mustAddr("10.0.1.1"), rt, 0}, {rt, 1, mustAddr("10.0.2.2"), b, 0},
		{b, 0, mustAddr("10.0.2.1"), rt, 1}, {rt, 0, mustAddr("10.0.1.2"), a, 0},
	})
	got, unprimed := w.primes(r.Probes, idx)
	if fmt.Sprint(got) != want || len(unprimed) != 0 {
		t.Errorf("primes(a -> 10.0.2.2, twice) = %v, unprimed %v; want %s, none unprimed", got, unprimed, want)
	}
}
