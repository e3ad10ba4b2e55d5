package check

import (
	"fmt"
	"io"
	"math"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// A shaped path is measured, each way, with one exchange of UDP
// datagrams: the sender stamps each with its clock, the receiver echoes
// each back stamped with its own, and both sockets read the kernel's
// receive time (SO_TIMESTAMPNS). All the lab's namespaces share the
// host's clock, so the one-way delay of each way is the receive time
// less the send time; the echo's return gives the round trip; the
// datagrams that do not arrive give each way's loss. Where a way has a
// rate, a TCP stream is run that way for a second to measure it.
//
// A measured figure passes within these tolerances (see WayResult.check):
//
//   - one-way delay, the median of the datagrams': from the delay less
//     the jitter less 1 ms to the delay plus the jitter plus 5 ms or 20%
//     of the delay, whichever is more (the machine only adds to a delay;
//     a busy one, or a VM's late timers, add a few ms);
//   - round trip, the shortest: from the two delays' sum less 2 ms to the
//     sum plus both jitters plus 10 ms or 20% of the sum;
//   - loss: the share expected within 4 standard deviations of a binomial
//     draw of the datagrams sent (sqrt(p(1-p)/n)) plus 1 point: a right
//     loss misses it once in 15,000 measures;
//   - rate, measured only on a way with no loss (TCP backs off at each
//     loss): the median of three windows of 500 ms of a TCP stream, 80%
//     to 110% of the rate.
const (
	delayUnder  = time.Millisecond
	delayOver   = 5 * time.Millisecond
	rttUnder    = 2 * time.Millisecond
	rttOver     = 10 * time.Millisecond
	overShare   = 0.2
	lossSigmas  = 4
	lossSlack   = 1.0 // percentage points
	rateLow     = 0.8
	rateHigh    = 1.1
	measureWarm = 200 * time.Millisecond
	rateTime    = 1500 * time.Millisecond
	rateWindows = 3
)

// Way is one direction of a shaped path: from a node (or the host) to an
// address of another, with the shape expected on the way.
type Way struct {
	From, To string // node names, "host" for the host
	// FromNS and ToNS are the namespaces' paths, "" for the host's.
	FromNS, ToNS string `json:"-"`
	// Addr is To's address the datagrams are sent to.
	Addr netip.Addr
	Want Wanted
}

// Wanted is a way's configured shape: what a measure is held to.
type Wanted struct {
	Delay  time.Duration `json:"delay_ns"`
	Jitter time.Duration `json:"jitter_ns"`
	Loss   float64       `json:"loss_pct"`
	Rate   uint64        `json:"rate_bps,omitempty"`
}

// Path is a shaped cable measured both ways: Fwd and Back are its ways.
type Path struct {
	Cable     string
	Fwd, Back Way
}

// WayResult is what was measured one way.
type WayResult struct {
	From     string `json:"from"`
	To       string `json:"to"`
	Addr     string `json:"addr"`
	Expected Wanted `json:"expected"`
	// Sent and Arrived are datagrams; Loss is the share lost, percent.
	Sent    int     `json:"sent"`
	Arrived int     `json:"arrived"`
	Loss    float64 `json:"loss_pct"`
	// Delay is the median one-way delay, DelayMin the shortest.
	Delay    time.Duration `json:"delay_ns"`
	DelayMin time.Duration `json:"delay_min_ns"`
	// Rate is the TCP throughput (bits per second), when measured.
	Rate uint64 `json:"rate_bps,omitempty"`
	// Failures say which figures fell outside their tolerance.
	Failures []string `json:"failures,omitempty"`
}

// PathResult is a cable measured both ways.
type PathResult struct {
	Cable string      `json:"cable"`
	Ways  []WayResult `json:"ways"`
	// RTT is the shortest round trip of the echoes, RTTWant the sum of
	// the two ways' delays.
	RTT     time.Duration `json:"rtt_ns"`
	RTTWant time.Duration `json:"rtt_expected_ns"`
	RTTFail string        `json:"rtt_failure,omitempty"`
	Err     string        `json:"error,omitempty"`
}

// MeasureReport is what Measure found.
type MeasureReport struct {
	Lab    string       `json:"lab"`
	Paths  []PathResult `json:"paths"`
	Failed int          `json:"failed"`
	// Tolerance states the tolerances, as the table prints them.
	Tolerance string `json:"tolerance"`
}

// Tolerance is the rule of Wanted's checks, in words.
const Tolerance = "one-way delay (median): delay-jitter-1ms to delay+jitter+max(5ms, 20%); " +
	"round trip (shortest): sum-2ms to sum+jitters+max(10ms, 20%); " +
	"loss: expected ± 4 standard deviations of the datagrams sent + 1 point; " +
	"rate (ways without loss, median of 3 windows of 500ms): 80% to 110%"

// delayRange is the range a median one-way delay passes in.
func (e Wanted) delayRange() (lo, hi time.Duration) {
	lo = max(e.Delay-e.Jitter-delayUnder, 0)
	hi = e.Delay + e.Jitter + max(delayOver, time.Duration(overShare*float64(e.Delay)))
	return lo, hi
}

// lossRange is the range a loss measured over n datagrams passes in,
// percent.
func (e Wanted) lossRange(n int) (lo, hi float64) {
	p := e.Loss / 100
	sd := 0.0
	if n > 0 {
		sd = math.Sqrt(p*(1-p)/float64(n)) * 100
	}
	d := lossSigmas*sd + lossSlack
	return max(e.Loss-d, 0), min(e.Loss+d, 100)
}

// check holds a way's figures to the expected shape; it fills Failures.
func (r *WayResult) check() {
	e := r.Expected
	way := r.From + " -> " + r.To
	if r.Arrived > 0 {
		lo, hi := e.delayRange()
		if r.Delay < lo || r.Delay > hi {
			r.Failures = append(r.Failures, fmt.Sprintf("%s: one-way delay %s, want %s (%s to %s)", way, msStr(r.Delay), msStr(e.Delay), msStr(lo), msStr(hi)))
		}
	}
	lo, hi := e.lossRange(r.Sent)
	if r.Loss < lo || r.Loss > hi {
		r.Failures = append(r.Failures, fmt.Sprintf("%s: loss %s%%, want %s%% (%s%% to %s%% of %d datagrams)", way, pct(r.Loss), pct(e.Loss), pct(lo), pct(hi), r.Sent))
	}
	if e.Rate > 0 && e.Loss == 0 && r.Rate > 0 {
		if got := float64(r.Rate); got < rateLow*float64(e.Rate) || got > rateHigh*float64(e.Rate) {
			r.Failures = append(r.Failures, fmt.Sprintf("%s: rate %s, want %s (%s to %s)", way, rateStr(r.Rate), rateStr(e.Rate),
				rateStr(uint64(rateLow*float64(e.Rate))), rateStr(uint64(rateHigh*float64(e.Rate)))))
		}
	}
}

// rttRange is the range the shortest round trip passes in.
func rttRange(a, b Wanted) (lo, hi time.Duration) {
	sum := a.Delay + b.Delay
	lo = max(sum-a.Jitter-b.Jitter-rttUnder, 0)
	hi = sum + a.Jitter + b.Jitter + max(rttOver, time.Duration(overShare*float64(sum)))
	return lo, hi
}

// finish checks a path's figures and counts its failures.
func (p *PathResult) finish() int {
	if p.Err != "" {
		return 1
	}
	n := 0
	for i := range p.Ways {
		p.Ways[i].check()
		n += len(p.Ways[i].Failures)
	}
	if len(p.Ways) == 2 && p.RTT > 0 {
		lo, hi := rttRange(p.Ways[0].Expected, p.Ways[1].Expected)
		p.RTTWant = p.Ways[0].Expected.Delay + p.Ways[1].Expected.Delay
		if p.RTT < lo || p.RTT > hi {
			p.RTTFail = fmt.Sprintf("round trip %s, want %s (%s to %s)", msStr(p.RTT), msStr(p.RTTWant), msStr(lo), msStr(hi))
			n++
		}
	}
	return n
}

// Failures lists every figure outside its tolerance, naming the cable
// and the way.
func (r *MeasureReport) Failures() []string {
	var out []string
	for _, p := range r.Paths {
		if p.Err != "" {
			out = append(out, "cable "+p.Cable+": "+p.Err)
		}
		for _, w := range p.Ways {
			for _, f := range w.Failures {
				out = append(out, "cable "+p.Cable+", "+f)
			}
		}
		if p.RTTFail != "" {
			out = append(out, "cable "+p.Cable+": "+p.RTTFail)
		}
	}
	return out
}

// WriteTable prints a row per way: the expected and measured figures.
func (r *MeasureReport) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CABLE\tWAY\tDELAY want/got\tLOSS want/got\tRATE want/got\tRTT want/got\tRESULT")
	for _, p := range r.Paths {
		if p.Err != "" {
			fmt.Fprintf(tw, "%s\t-\t-\t-\t-\t-\terror: %s\n", p.Cable, p.Err)
			continue
		}
		for i, x := range p.Ways {
			rtt := ""
			if i == 0 {
				rtt = msStr(p.RTTWant) + " / " + msStr(p.RTT)
			}
			rate := "-"
			if x.Expected.Rate > 0 || x.Rate > 0 {
				rate = rateStr(x.Expected.Rate) + " / " + rateStr(x.Rate)
				if x.Rate == 0 {
					rate = rateStr(x.Expected.Rate) + " / (lossy: not measured)"
				}
			}
			result := "ok"
			if len(x.Failures) > 0 || i == 0 && p.RTTFail != "" {
				result = "FAILED"
			}
			fmt.Fprintf(tw, "%s\t%s -> %s\t%s / %s\t%s%% / %s%% of %d\t%s\t%s\t%s\n", p.Cable, x.From, x.To,
				msStr(x.Expected.Delay), msStr(x.Delay), pct(x.Expected.Loss), pct(x.Loss), x.Sent, rate, rtt, result)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "tolerance: %s\n", strings.ReplaceAll(Tolerance, "; ", ";\n  "))
	return err
}

func msStr(d time.Duration) string {
	return strconv.FormatFloat(float64(d)/1e6, 'f', 2, 64) + "ms"
}

func pct(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }

func rateStr(bps uint64) string {
	switch {
	case bps == 0:
		return "-"
	case bps >= 1e9:
		return strconv.FormatFloat(float64(bps)/1e9, 'f', 2, 64) + "gbit"
	case bps >= 1e6:
		return strconv.FormatFloat(float64(bps)/1e6, 'f', 2, 64) + "mbit"
	}
	return strconv.FormatFloat(float64(bps)/1e3, 'f', 1, 64) + "kbit"
}

// median of ds (sorted in place); 0 for none.
func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	slices.Sort(ds)
	return ds[len(ds)/2]
}

// dgram is an exchange datagram: seq, the sender's send time, the
// echoer's, and how long the echoer held it (from its arrival, stamped by
// the kernel, to its echo: nanoseconds of the shared clock).
const dgramLen = 28

// warmSeq marks the datagrams that settle the neighbours first.
const warmSeq = ^uint32(0)

// wireBits is a datagram's size on the wire (Ethernet, IPv6, UDP).
const wireBits = (dgramLen + 8 + 40 + 14) * 8

// exchange is the plan of one UDP exchange: n datagrams, one every gap.
func exchange(p Path) (n int, gap time.Duration) {
	n, gap = 1000, 100*time.Microsecond
	slowest := uint64(0)
	for _, r := range []uint64{p.Fwd.Want.Rate, p.Back.Want.Rate} {
		if r > 0 && (slowest == 0 || r < slowest) {
			slowest = r
		}
	}
	if slowest > 0 {
		// A quarter of the slowest rate: the datagrams must not queue.
		gap = max(gap, time.Duration(4*wireBits*float64(time.Second)/float64(slowest)))
		n = max(min(n, int(1500*time.Millisecond/gap)), 20)
	}
	return n, gap
}

func lossPct(sent, arrived int) float64 {
	if sent == 0 {
		return 0
	}
	return float64(sent-arrived) / float64(sent) * 100
}

func minOf(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	m := ds[0]
	for _, d := range ds {
		m = min(m, d)
	}
	return m
}
