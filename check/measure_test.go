package check

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// TestMeasureTolerance holds measured figures to shapes: inside each
// tolerance passes, outside fails naming the way, expected and measured.
func TestMeasureTolerance(t *testing.T) {
	ms := time.Millisecond
	way := func(want Wanted, sent, arrived int, delay time.Duration, rate uint64) WayResult {
		return WayResult{From: "a", To: "b", Expected: want, Sent: sent, Arrived: arrived,
			Loss: lossPct(sent, arrived), Delay: delay, Rate: rate}
	}
	for _, tc := range []struct {
		name string
		w    WayResult
		fail string // "" passes
	}{
		{"delay 50ms measured 51.2", way(Wanted{Delay: 50 * ms}, 1000, 1000, 51200*time.Microsecond, 0), ""},
		{"delay 50ms measured 0.1 (shape gone)", way(Wanted{Delay: 50 * ms}, 1000, 1000, 100*time.Microsecond, 0),
			"a -> b: one-way delay 0.10ms, want 50.00ms (49.00ms to 60.00ms)"},
		{"delay 50ms measured 61", way(Wanted{Delay: 50 * ms}, 1000, 1000, 61*ms, 0), "one-way delay 61.00ms"},
		{"jitter widens", way(Wanted{Delay: 50 * ms, Jitter: 20 * ms}, 1000, 1000, 31*ms, 0), ""},
		{"no delay, 4ms", way(Wanted{}, 1000, 1000, 4*ms, 0), ""},
		{"no delay, 6ms", way(Wanted{}, 1000, 1000, 6*ms, 0), "one-way delay 6.00ms, want 0.00ms (0.00ms to 5.00ms)"},
		// 20% of 1000: sd 1.26 points, so 20 ± 6.06.
		{"loss 20% measured 25%", way(Wanted{Loss: 20}, 1000, 750, 0, 0), ""},
		{"loss 20% measured 27%", way(Wanted{Loss: 20}, 1000, 730, 0, 0), "a -> b: loss 27.0%, want 20.0% (13.9% to 26.1% of 1000 datagrams)"},
		{"loss 20% measured 0 (shape gone)", way(Wanted{Loss: 20}, 1000, 1000, 0, 0), "loss 0.0%, want 20.0%"},
		{"no loss, 1 lost", way(Wanted{}, 1000, 999, 0, 0), ""},
		{"no loss, 2% lost", way(Wanted{}, 1000, 980, 0, 0), "loss 2.0%, want 0.0% (0.0% to 1.0%"},
		{"rate 5mbit measured 4.5", way(Wanted{Rate: 5e6}, 1000, 1000, 0, 4_500_000), ""},
		{"rate 5mbit measured 3.9", way(Wanted{Rate: 5e6}, 1000, 1000, 0, 3_900_000), "a -> b: rate 3.90mbit, want 5.00mbit (4.00mbit to 5.50mbit)"},
		{"rate 5mbit measured 3.9gbit (shape gone)", way(Wanted{Rate: 5e6}, 1000, 1000, 0, 3_900_000_000), "rate 3.90gbit, want 5.00mbit"},
	} {
		w := tc.w
		w.check()
		got := strings.Join(w.Failures, "; ")
		switch {
		case tc.fail == "" && got != "":
			t.Errorf("%s: failed %q, want a pass", tc.name, got)
		case tc.fail != "" && !strings.Contains(got, tc.fail):
			t.Errorf("%s: failures %q, want one with %q", tc.name, got, tc.fail)
		}
	}

	// A path: the round trip is held to the two delays' sum, and the
	// report names the cable in each failure.
	p := PathResult{Cable: "a:eth0 -- b:eth0", RTT: 101 * ms, Ways: []WayResult{
		way(Wanted{Delay: 50 * ms}, 1000, 1000, 50500*time.Microsecond, 0),
		way(Wanted{Delay: 50 * ms}, 1000, 1000, 50500*time.Microsecond, 0)}}
	if n := p.finish(); n != 0 || p.RTTWant != 100*ms {
		t.Errorf("round trip 101ms of 2 x 50ms: %d failures (%q), want none; expected %v", n, p.RTTFail, p.RTTWant)
	}
	p.RTT = 300 * time.Microsecond
	if n := p.finish(); n != 1 || p.RTTFail != "round trip 0.30ms, want 100.00ms (98.00ms to 120.00ms)" {
		t.Errorf("round trip 0.3ms of 2 x 50ms: %d failures, %q", n, p.RTTFail)
	}
	rep := &MeasureReport{Lab: "x", Paths: []PathResult{p}, Failed: 1, Tolerance: Tolerance}
	if f := rep.Failures(); len(f) != 1 || f[0] != "cable a:eth0 -- b:eth0: round trip 0.30ms, want 100.00ms (98.00ms to 120.00ms)" {
		t.Errorf("failures %q", f)
	}
	var b bytes.Buffer
	if err := rep.WriteTable(&b); err != nil || !strings.Contains(b.String(), "FAILED") || !strings.Contains(b.String(), "tolerance: one-way delay") {
		t.Errorf("table: %v\n%s", err, b.String())
	}
}

// TestMeasureExchangePlan paces the datagrams to a quarter of the
// slowest rate, so that they do not queue, within 1.5 s.
func TestMeasureExchangePlan(t *testing.T) {
	for _, tc := range []struct {
		rate uint64
		n    int
		gap  time.Duration
	}{
		{0, 1000, 100 * time.Microsecond},
		{1e9, 1000, 100 * time.Microsecond},
		{5e6, 1000, 576 * time.Microsecond}, // 4 datagrams of 720 bits on the wire a gap
		{64e3, 33, 45 * time.Millisecond},
	} {
		n, gap := exchange(Path{Fwd: Way{Want: Wanted{Rate: tc.rate}}})
		if n != tc.n || gap.Round(100*time.Nanosecond) != tc.gap.Round(100*time.Nanosecond) {
			t.Errorf("rate %d: %d datagrams every %v, want %d every %v", tc.rate, n, gap, tc.n, tc.gap)
		}
	}
}
