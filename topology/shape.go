package topology

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Shape limits and degrades a cable: its rate, a delay with jitter, and
// a share of packets lost. It is written on one end of the cable and
// holds in both directions, each on its own: a delay of 10ms makes a
// round trip of 20ms, a loss of 1% drops about 1% of the packets each
// way.
type Shape struct {
	// Rate is in bits per second; 0 is no limit.
	Rate uint64
	// Delay and Jitter are each way; Jitter needs Delay.
	Delay, Jitter time.Duration
	// Loss is a percentage, from 0 to 100.
	Loss float64
	// Duplicate, Reorder and Corrupt are percentages of the packets netem
	// sends twice, sends at once ahead of the delayed ones (Reorder needs
	// Delay), and sends with a bit flipped.
	Duplicate, Reorder, Corrupt float64
	// Way is which way of the cable the shape holds, seen from the
	// interface it is written on: "" both ways, WayOut what leaves the
	// interface, WayIn what comes into it. Two one-way shapes, one on
	// each end or both on one, make a cable shaped differently each way.
	Way string
	Pos Pos
	// reorderAt is where the file writes reorder, for its error.
	reorderAt Pos
}

// Ways a shape holds (Shape.Way).
const (
	WayOut = "out"
	WayIn  = "in"
)

// Out and In report whether the shape holds for what leaves and what
// comes into the interface it is written on.
func (s *Shape) Out() bool { return s.Way != WayIn }
func (s *Shape) In() bool  { return s.Way != WayOut }

// Limits of a shape.
const (
	MinRate  = 8000        // 8kbit: tbf and netem count in bytes per second
	MaxRate  = 1e12        // 1tbit
	MaxDelay = time.Minute // netem keeps every delayed packet in its queue
)

// Netem reports whether the shape needs the kernel's netem qdisc: a rate
// alone is made with tbf.
func (s *Shape) Netem() bool {
	return s.Delay > 0 || s.Jitter > 0 || s.Loss > 0 || s.Duplicate > 0 || s.Reorder > 0 || s.Corrupt > 0
}

// String renders the shape as the file writes it.
func (s *Shape) String() string {
	var parts []string
	if s.Rate > 0 {
		parts = append(parts, "rate "+FormatRate(s.Rate))
	}
	if s.Delay > 0 {
		parts = append(parts, "delay "+s.Delay.String())
	}
	if s.Jitter > 0 {
		parts = append(parts, "jitter "+s.Jitter.String())
	}
	if s.Loss > 0 {
		parts = append(parts, "loss "+strconv.FormatFloat(s.Loss, 'f', -1, 64)+"%")
	}
	for _, x := range []struct {
		key string
		pct float64
	}{{"duplicate", s.Duplicate}, {"reorder", s.Reorder}, {"corrupt", s.Corrupt}} {
		if x.pct > 0 {
			parts = append(parts, x.key+" "+strconv.FormatFloat(x.pct, 'f', -1, 64)+"%")
		}
	}
	if s.Way != "" {
		parts = append(parts, "direction "+s.Way)
	}
	return strings.Join(parts, ", ")
}

// Equal reports whether two shapes (either may be nil) shape alike.
func (s *Shape) Equal(o *Shape) bool {
	if s == nil || o == nil {
		return s == o
	}
	return s.Rate == o.Rate && s.Delay == o.Delay && s.Jitter == o.Jitter && s.Loss == o.Loss &&
		s.Duplicate == o.Duplicate && s.Reorder == o.Reorder && s.Corrupt == o.Corrupt && s.Way == o.Way
}

var shapeFields = map[string]field[*Shape]{
	"rate":      decodeRate,
	"delay":     func(p *parser, s *Shape, e entry, path string) { s.Delay = p.duration(e, path) },
	"jitter":    func(p *parser, s *Shape, e entry, path string) { s.Jitter = p.duration(e, path) },
	"loss":      func(p *parser, s *Shape, e entry, path string) { s.Loss = p.percent(e, path) },
	"duplicate": func(p *parser, s *Shape, e entry, path string) { s.Duplicate = p.percent(e, path) },
	"reorder": func(p *parser, s *Shape, e entry, path string) {
		s.Reorder, s.reorderAt = p.percent(e, path), e.keyPos
	},
	"corrupt": func(p *parser, s *Shape, e entry, path string) { s.Corrupt = p.percent(e, path) },
	"direction": func(p *parser, s *Shape, e entry, path string) {
		v, pos, ok := p.str(e.val, path)
		if !ok {
			return
		}
		switch v {
		case "both":
		case WayOut, WayIn:
			s.Way = v
		default:
			p.errorf(pos, "%s: %q: write out (what leaves this interface), in (what comes into it) or both", path, v)
		}
	},
}

func decodeShape(p *parser, d *ifaceDecl, e entry, path string) {
	s := &Shape{Pos: e.keyPos}
	if n := p.deref(e.val); n == nil || typeOf(n) == tagNull {
		p.errorf(e.keyPos, "%s is empty: give rate, delay, jitter, loss, duplicate, reorder or corrupt (shape: {rate: 10mbit, delay: 5ms})", path)
		return
	}
	errs := len(p.errs)
	if !decodeFields(p, e.val, path, shapeFields, s) || len(p.errs) > errs || p.overflow {
		return
	}
	switch {
	case s.Rate == 0 && !s.Netem():
		p.errorf(e.keyPos, "%s shapes nothing: give rate, delay, jitter, loss, duplicate, reorder or corrupt (shape: {rate: 10mbit, delay: 5ms})", path)
		return
	case s.Jitter > 0 && s.Delay == 0:
		p.errorf(e.keyPos, "%s: jitter varies the delay, so it needs one: add delay (delay: 20ms, jitter: 5ms)", path)
		return
	case s.Reorder > 0 && s.Delay == 0:
		p.errorf(s.reorderAt, "%s.reorder: reordering sends some packets at once ahead of delayed ones, so it needs a delay: add one (delay: 10ms, reorder: 25%%)", path)
		return
	}
	d.it.Shape = s
}

// decodeRate reads a rate in bits per second: 10mbit, 1.5gbit, 64kbit,
// or a number of bits.
func decodeRate(p *parser, s *Shape, e entry, path string) {
	v, pos, ok := p.str(e.val, path)
	if !ok {
		return
	}
	r, err := ParseRate(v)
	if err != nil {
		p.errorf(pos, "%s: %v", path, err)
		return
	}
	s.Rate = r
}

// ParseRate reads a rate as tc writes it, in bits per second with
// decimal prefixes: 64kbit, 10mbit, 1.5gbit, 1tbit, or a bare number of
// bits per second.
func ParseRate(v string) (uint64, error) {
	s := strings.ToLower(strings.TrimSpace(v))
	if strings.HasSuffix(s, "bps") || strings.HasSuffix(s, "b/s") {
		return 0, fmt.Errorf("rate %q: write bits per second as 10mbit (in tc, mbps means megabytes per second)", v)
	}
	mult := 1.0
	for _, u := range []struct {
		suffix string
		mult   float64
	}{{"tbit", 1e12}, {"gbit", 1e9}, {"mbit", 1e6}, {"kbit", 1e3}, {"bit", 1}} {
		if strings.HasSuffix(s, u.suffix) {
			s, mult = strings.TrimSuffix(s, u.suffix), u.mult
			break
		}
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, fmt.Errorf("rate %q is not a rate such as 10mbit, 1.5gbit or 64kbit", v)
	}
	bits := f * mult
	if bits < MinRate || bits > MaxRate {
		return 0, fmt.Errorf("rate %q is out of range: it must be from 8kbit to 1tbit", v)
	}
	return uint64(math.Round(bits)), nil
}

// FormatRate writes a rate as ParseRate reads it, with the largest
// prefix that keeps it whole.
func FormatRate(bits uint64) string {
	for _, u := range []struct {
		n    uint64
		unit string
	}{{1e12, "tbit"}, {1e9, "gbit"}, {1e6, "mbit"}, {1e3, "kbit"}} {
		if bits >= u.n && bits%u.n == 0 {
			return strconv.FormatUint(bits/u.n, 10) + u.unit
		}
	}
	return strconv.FormatUint(bits, 10) + "bit"
}

// duration reads a delay such as 20ms, 1.5s or 250us.
func (p *parser) duration(e entry, path string) time.Duration {
	v, pos, ok := p.str(e.val, path)
	if !ok {
		return 0
	}
	d, err := time.ParseDuration(strings.TrimSpace(v))
	switch {
	case err != nil:
		p.errorf(pos, "%s: %q is not a duration with its unit, such as 20ms, 1.5s or 250us", path, v)
	case d < 0 || d > MaxDelay:
		p.errorf(pos, "%s: %s is out of range: it must be from 0 to %ds", path, v, int(MaxDelay.Seconds()))
	case d%time.Microsecond != 0:
		p.errorf(pos, "%s: %s is finer than the kernel counts (microseconds)", path, v)
	default:
		return d
	}
	return 0
}

// percent reads a percentage (loss, duplicate, reorder, corrupt): 1%,
// 0.5% or a bare number of percent.
func (p *parser) percent(e entry, path string) float64 {
	v, pos, ok := p.str(e.val, path)
	if !ok {
		return 0
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "%")), 64)
	if err != nil || math.IsNaN(f) || f < 0 || f > 100 {
		p.errorf(pos, "%s: %q is not a percentage from 0 to 100 such as 1%% or 0.5%%", path, v)
		return 0
	}
	return f
}
