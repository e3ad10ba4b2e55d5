package check

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/nslab/nslab/topology"
)

// flatStar is n nodes on one bridge, IPv4 and optionally IPv6, with a
// host-side address when host is set.
func flatStar(n int, dual, host bool) *topology.Lab {
	l := newTestLab(fmt.Sprintf("star%d", n))
	var addrs []string
	if host {
		addrs = []string{"10.5.0.1/16"}
		if dual {
			addrs = append(addrs, "fd05::1/64")
		}
	}
	l.bridge("br0", addrs...)
	for i := range n {
		a := []string{fmt.Sprintf("10.5.%d.%d/16", i/200, 2+i%200)}
		if dual {
			a = append(a, fmt.Sprintf("fd05::1:%x/64", i))
		}
		l.port(fmt.Sprintf("n%03d:eth0", i), "br0", a...)
	}
	return l.lab
}

func limits(v4, v6 int) *neighLimits {
	return &neighLimits{thresh3: [2]int{v4, v6}, hold: neighHold}
}

func TestNeighEstimate(t *testing.T) {
	tests := []struct {
		name string
		lab  *topology.Lab
		want [2]int
	}{
		{"star of 10 and the host", flatStar(10, true, true), [2]int{11 * 10, 11 * 10}},
		{"star of 30, IPv4 only", flatStar(30, false, false), [2]int{30 * 29, 0}},
		// Four cables, each end resolving the other's address.
		{"a -- r -- b", routedLab("router"), [2]int{4, 4}},
	}
	for _, tt := range tests {
		if got := newWorld(tt.lab).neighEstimate(); got != tt.want {
			t.Errorf("%s: neighEstimate() = %v, want %v", tt.name, got, tt.want)
		}
	}
}

// TestChoose: when Run probes all pairs, and when it samples.
func TestChoose(t *testing.T) {
	tests := []struct {
		name   string
		lab    *topology.Lab
		opt    Options
		lim    *neighLimits
		pairs  int    // sampled pairs; 0 for a full check
		reason string // in an automatic sample's reason
	}{
		{name: "small lab: always full", lab: flatStar(19, true, true), lim: limits(16, 16)},
		{name: "big lab that fits the table", lab: flatStar(30, false, false), lim: limits(4096, 4096)},
		{name: "big lab beyond the table", lab: flatStar(30, false, false), lim: limits(1024, 1024),
			pairs: 500, reason: "probing all pairs needs about 870 IPv4 neighbour entries, and the kernel's neighbour table " +
				"(gc_thresh3=1024) is shared by all namespaces: set a sample size (nslab check --sample N) or raise net.ipv4.neigh.default.gc_thresh3"},
		{name: "IPv6 table smaller", lab: flatStar(30, true, false), lim: limits(4096, 1024),
			pairs: 500, reason: "870 IPv6 neighbour entries, and the kernel's neighbour table (gc_thresh3=1024)"},
		{name: "forced full", lab: flatStar(30, false, false), lim: limits(16, 16), opt: Options{Sample: -1}},
		{name: "asked sample of a small lab", lab: flatStar(5, false, false), lim: limits(1024, 1024), opt: Options{Sample: 7}, pairs: 7},
		{name: "auto sample size", lab: flatStar(30, false, false), lim: limits(16, 16), opt: Options{autoSample: 40}, pairs: 40, reason: "gc_thresh3=16"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(tt.lab)
			ps, s := w.choose(tt.opt.withDefaults(), *tt.lim)
			switch {
			case tt.pairs == 0 && s != nil:
				t.Fatalf("choose() sampled %+v, want all pairs", *s)
			case tt.pairs == 0:
				if len(ps) != len(Expect(tt.lab)) {
					t.Errorf("choose() = %d probes, want Expect's %d", len(ps), len(Expect(tt.lab)))
				}
				return
			case s == nil:
				t.Fatalf("choose() = all pairs, want a sample of %d", tt.pairs)
			}
			if s.Pairs != tt.pairs || s.Auto != (tt.reason != "") || !strings.Contains(s.Reason, tt.reason) {
				t.Errorf("choose() sampled %+v, want %d pairs, reason %q", *s, tt.pairs, tt.reason)
			}
		})
	}
}

// TestWaves: each wave needs at most the budget, every probe is in one
// wave, in order.
func TestWaves(t *testing.T) {
	lab := flatStar(10, true, true)
	w := newWorld(lab)
	r := newReport(lab, w.expectAll())
	for _, budget := range [][2]int{{8, 8}, {8, 1000}, {1, 1}, {1000, 1000}} {
		waves := w.waves(r.Probes, budget)
		next := 0
		for _, wv := range waves {
			if wv.need[v4] > budget[v4] && len(wv.idx) > 1 || wv.need[v6] > budget[v6] && len(wv.idx) > 1 {
				t.Errorf("budget %v: wave of %d probes needs %v", budget, len(wv.idx), wv.need)
			}
			for _, i := range wv.idx {
				if i != next {
					t.Fatalf("budget %v: probe %d in a wave, want %d", budget, i, next)
				}
				next++
			}
		}
		if next != len(r.Probes) {
			t.Errorf("budget %v: %d of %d probes in waves", budget, next, len(r.Probes))
		}
		t.Logf("budget %v: %d probes in %d waves", budget, len(r.Probes), len(waves))
	}
	// A full mesh of 11 stacks needs 11*10 entries per family: all in
	// one wave with room. With room for 8, a wave holds 4 probes of a
	// family (an entry there and one back each), and the entries back
	// count again when their node probes: 220/8 waves.
	if n := len(w.waves(r.Probes, [2]int{1000, 1000})); n != 1 {
		t.Errorf("%d waves with room for all, want 1", n)
	}
	if n := len(w.waves(r.Probes, [2]int{8, 8})); n != 28 {
		t.Errorf("%d waves of 8 entries, want 28", n)
	}
}

// TestNeighbours: the entries of one probe, there and back.
func TestNeighbours(t *testing.T) {
	lab := routedLab("router")
	w := newWorld(lab)
	for _, p := range w.expectAll() {
		if p.From != "a" || p.To.String() != "10.0.2.2" {
			continue
		}
		got := fmt.Sprint(w.neighbours(&p, nil))
		// a resolves r, r resolves b; b resolves r, r resolves a.
		want := fmt.Sprint([]neighbour{
			{w.byName["a"], 0, mustAddr("10.0.1.1")}, {w.byName["r"], 1, mustAddr("10.0.2.2")},
			{w.byName["b"], 0, mustAddr("10.0.2.1")}, {w.byName["r"], 0, mustAddr("10.0.1.2")},
		})
		if got != want {
			t.Errorf("neighbours(a -> 10.0.2.2) = %s, want %s", got, want)
		}
		return
	}
	t.Fatal("no probe a -> 10.0.2.2")
}

func TestWaitRoom(t *testing.T) {
	l := neighLimits{thresh3: [2]int{16, 16}, hold: 150 * time.Millisecond}
	log := waveLog{{end: time.Now(), need: [2]int{5, 0}}}
	start := time.Now()
	if err := log.waitRoom(context.Background(), [2]int{3, 8}, l); err != nil || time.Since(start) > 50*time.Millisecond {
		t.Errorf("waitRoom(fits) = %v after %v, want at once", err, time.Since(start))
	}
	if err := log.waitRoom(context.Background(), [2]int{4, 0}, l); err != nil || time.Since(start) < 140*time.Millisecond {
		t.Errorf("waitRoom(full) = %v after %v, want after the hold", err, time.Since(start))
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	log = waveLog{{end: time.Now(), need: [2]int{8, 0}}}
	if err := log.waitRoom(ctx, [2]int{1, 0}, l); err == nil {
		t.Error("waitRoom(canceled) = nil, want the context's error")
	}
}

func TestThousands(t *testing.T) {
	for n, want := range map[int]string{0: "0", 999: "999", 1000: "1,000", 999000: "999,000", 1234567: "1,234,567", -1500: "-1,500"} {
		if got := thousands(n); got != want {
			t.Errorf("thousands(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestReadNeighLimits(t *testing.T) {
	l := readNeighLimits()
	if l.thresh3[v4] <= 0 || l.thresh3[v6] <= 0 || l.hold != neighHold {
		t.Errorf("readNeighLimits() = %+v", l)
	}
	t.Logf("gc_thresh3: %v, budget %v", l.thresh3, l.budget())
}

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }
