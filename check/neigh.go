package check

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// The kernel keeps one neighbour table per family (ARP, NDP) for all
// network namespaces together. Once it holds gc_thresh3 entries, a new
// one can only replace an entry that was last updated more than five
// seconds ago (neigh_forced_gc); failing that, the packet that needed it
// is dropped ("neighbor table overflow"). A check must therefore not
// resolve too many neighbours at once, whatever the lab's size.

// Defaults of the neighbour table, and how long an entry stays
// unevictable after it is resolved (the kernel's five seconds, plus a
// margin).
const (
	defaultThresh3 = 1024
	neighHold      = 6 * time.Second
)

// neighLimits is what Run keeps to in the neighbour tables.
type neighLimits struct {
	// thresh3 is gc_thresh3 by family.
	thresh3 [2]int
	// hold is how long the entries a wave resolved count against the
	// next waves.
	hold time.Duration
	// primed is how many entries, by family, a wave whose neighbours
	// are primed holds at most: those entries are permanent and do not
	// count against thresh3, so what bounds a wave is the sockets it
	// keeps open (one netlink socket in each node it primes, two ICMP
	// sockets in each source). Zero means budget().
	primed [2]int
}

// readNeighLimits reads net.ipv{4,6}.neigh.default.gc_thresh3, taking
// the kernel's default for one it cannot read, and sizes primed waves by
// the open-file limit.
func readNeighLimits() neighLimits {
	l := neighLimits{hold: neighHold}
	n := primedWave(openFiles())
	l.primed = [2]int{n, n}
	for f, fam := range []string{"ipv4", "ipv6"} {
		l.thresh3[f] = defaultThresh3
		b, err := os.ReadFile("/proc/sys/net/" + fam + "/neigh/default/gc_thresh3")
		if n, perr := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && perr == nil && n > 0 {
			l.thresh3[f] = n
		}
	}
	return l
}

// Primed waves: at most primedMax entries a family, and a quarter of
// the open-file limit (a wave of n entries a family keeps about n
// sockets open: a netlink one in each primed node, two ICMP ones in
// each source, and a probe of a pair needs two to four entries a
// family).
const (
	primedMax = 4096
	primedMin = 64
)

func primedWave(nofile int) int { return max(primedMin, min(primedMax, nofile/4)) }

// primeBudget is how many distinct neighbours a primed wave holds, by
// family.
func (l neighLimits) primeBudget() [2]int {
	if l.primed == [2]int{} {
		return l.budget()
	}
	return l.primed
}

// budget is how many distinct neighbours Run resolves at once, by
// family: half the table, leaving the rest to other labs and the host.
func (l neighLimits) budget() [2]int {
	return [2]int{max(l.thresh3[v4]/2, 1), max(l.thresh3[v6]/2, 1)}
}

// neighEstimate bounds from above, in O(addresses), the neighbour
// entries that probing all pairs needs, by family: on each segment,
// every member resolves every other member's addresses, and a gateway
// off its segments (a link-local one) counts once more.
func (w *world) neighEstimate() [2]int {
	perSeg := make([][2]int, len(w.hostSegs))
	for _, s := range w.stacks {
		for _, i := range s.ifaces {
			if i.seg >= 0 {
				own := i.counts()
				perSeg[i.seg][v4] += own[v4]
				perSeg[i.seg][v6] += own[v6]
			}
		}
	}
	var est [2]int
	for _, s := range w.stacks {
		for _, i := range s.ifaces {
			if i.seg < 0 {
				continue
			}
			for f, own := range i.counts() {
				if own > 0 {
					est[f] += perSeg[i.seg][f] - own
				}
			}
		}
		for _, t := range s.tables {
			for _, r := range t.routes {
				if r.via.IsLinkLocalUnicast() {
					est[family(r.via)]++
				}
			}
		}
	}
	return est
}

// counts returns how many probeable addresses the interface has, by
// family.
func (i *iface) counts() [2]int {
	var n [2]int
	for _, p := range i.addrs {
		if p.Addr().IsGlobalUnicast() {
			n[family(p.Addr())]++
		}
	}
	return n
}

// neighbours appends the neighbour entries that probe p needs, there
// and back, to buf.
func (w *world) neighbours(p *Probe, buf []neighbour) []neighbour {
	s, okS := w.byName[p.From]
	owner, okO := w.byName[p.ToNode]
	if !okS || !okO || p.Dev == "" {
		return buf
	}
	dst, src := w.ref(p.To), w.ref(p.Src)
	w.walk(w.stacks[s], src, dst, nil, &buf)
	w.walk(w.stacks[owner], dst, src, nil, &buf)
	return buf
}

// wave is probes (indexes in Report.Probes, in order) probed together,
// and the distinct neighbour entries they need by family.
type wave struct {
	idx  []int
	need [2]int
	// nodes are the stacks whose neighbour tables the wave fills, by
	// name.
	nodes []string
}

// waves splits probes, in order, into waves that each need at most
// budget neighbour entries per family. A probe that alone needs more
// gets a wave of its own.
func (w *world) waves(ps []ProbeResult, budget [2]int) []wave {
	var out []wave
	var cur wave
	seen := map[neighbour]bool{}
	stacks := map[int32]bool{}
	var buf []neighbour
	for i := range ps {
		buf = w.neighbours(&ps[i].Probe, buf[:0])
		add := fresh(buf, seen)
		if len(cur.idx) > 0 && (cur.need[v4]+add[v4] > budget[v4] || cur.need[v6]+add[v6] > budget[v6]) {
			out = append(out, cur)
			cur = wave{}
			clear(seen)
			clear(stacks)
			add = fresh(buf, seen)
		}
		for _, n := range buf {
			seen[n] = true
			if !stacks[n.stack] {
				stacks[n.stack] = true
				cur.nodes = append(cur.nodes, w.stacks[n.stack].name)
			}
		}
		cur.need[v4] += add[v4]
		cur.need[v6] += add[v6]
		cur.idx = append(cur.idx, i)
	}
	if len(cur.idx) > 0 {
		out = append(out, cur)
	}
	return out
}

// fresh counts the distinct entries of ns not in seen, by family.
func fresh(ns []neighbour, seen map[neighbour]bool) [2]int {
	var n [2]int
	for k, nb := range ns {
		if !seen[nb] && !containsBefore(ns, k) {
			n[family(nb.addr)]++
		}
	}
	return n
}

// containsBefore reports whether ns[k] appears in ns[:k]: a probe needs
// a handful of entries, so a scan is the cheapest set.
func containsBefore(ns []neighbour, k int) bool {
	for _, nb := range ns[:k] {
		if nb == ns[k] {
			return true
		}
	}
	return false
}

// waveLog remembers when past waves ended and what they resolved.
type waveLog []waveEnd

type waveEnd struct {
	end  time.Time
	need [2]int
}

// waitRoom waits until the entries of the waves that ended less than
// hold ago, plus need, fit the budget: by then the kernel may evict the
// older entries to make room.
func (log waveLog) waitRoom(ctx context.Context, need [2]int, l neighLimits) error {
	budget := l.budget()
	for {
		now := time.Now()
		var recent [2]int
		var oldest time.Time
		for _, w := range log {
			if now.Sub(w.end) >= l.hold {
				continue
			}
			recent[v4] += w.need[v4]
			recent[v6] += w.need[v6]
			if oldest.IsZero() || w.end.Before(oldest) {
				oldest = w.end
			}
		}
		if oldest.IsZero() || (recent[v4]+need[v4] <= budget[v4] && recent[v6]+need[v6] <= budget[v6]) {
			return nil
		}
		t := time.NewTimer(oldest.Add(l.hold).Sub(now))
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// autoReason explains why Run sampled a lab by itself.
func autoReason(est [2]int, l neighLimits) string {
	f := v4
	if est[v6]*l.thresh3[v4] > est[v4]*l.thresh3[v6] {
		f = v6
	}
	name := [2]string{"ipv4", "ipv6"}[f]
	return fmt.Sprintf("probing all pairs needs about %s %s neighbour entries, "+
		"and the kernel's neighbour table (gc_thresh3=%d) is shared by all namespaces: "+
		"set a sample size (nslab check --sample N) or raise net.%s.neigh.default.gc_thresh3",
		thousands(est[f]), [2]string{"IPv4", "IPv6"}[f], l.thresh3[f], name)
}

// thousands formats n with commas: 1,234,567.
func thousands(n int) string {
	s := strconv.Itoa(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}
