package main

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
	"text/tabwriter"
	"time"
)

// lifecycle is one build and teardown of one lab by one tool.
type lifecycle struct {
	Tool     string // nslab, ip script, mininet
	N        int    // size asked for
	Nodes    int    // nodes in the file
	Topo     string
	Shape    string // what the file holds
	Gen      string // how the topology was made
	Big      bool
	Up, Down time.Duration
	Total    time.Duration
	Split    bool  // up and down measured separately
	RSS      int64 // nslab's peak RSS over up and down
	CheckRSS int64
	UpRuns   []time.Duration // nslab stars are built b.cfg.repeat times
	DownRuns []time.Duration
	// TotalRuns of Mininet, timed as a whole.
	TotalRuns []time.Duration
	Verify    string
	VerifyOK  bool // every probe answered right after up
	// VerifyLater: every probe answered, if only on the retry 5 s later.
	VerifyLater bool
	Left        []string
	Settled     time.Duration // how long after down until nothing was left
	Others      float64       // max share of the CPUs used by others during a timed command
	NeighFull   bool          // the kernel's neighbour table overflowed during up and check
	Memory      bool          // measure the kernel memory the lab takes
	MemPerNode  uint64        // MemAvailable before up less after it settled, per node of the file
	Failed      []string      // attempts that failed before the one measured
	Done        bool
	Err         string
}

func (l *lifecycle) label() string { return fmt.Sprintf("%s N=%d", l.Tool, l.N) }

// results gathers everything measured in one run.
type results struct {
	mu    sync.Mutex
	runs  []*lifecycle
	big   *lifecycle
	huge  *lifecycle // a second large lab (-huge)
	exec  []*execSeries
	tcp   []*tcpPath
	shape []*shapeRun
	// services: the services part (issue 10).
	services *servicesRun
	// multihost: labs across three simulated hosts (issue 15).
	multihost *multihostRun
	notes     []string
	once      map[string]bool

	// reconcile: changes made to the largest nslab star while it runs.
	reconcile *reconcileRun
}

func (r *results) add(l *lifecycle) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.runs = append(r.runs, l)
}

func (r *results) note(format string, a ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.notes = append(r.notes, fmt.Sprintf(format, a...))
}

func (r *results) noteOnce(key, format string, a ...any) {
	r.mu.Lock()
	if r.once == nil {
		r.once = map[string]bool{}
	}
	seen := r.once[key]
	r.once[key] = true
	r.mu.Unlock()
	if !seen {
		r.note(format, a...)
	}
}

func (r *results) find(tool string, n int) *lifecycle {
	for _, l := range r.runs {
		if l.Tool == tool && l.N == n {
			return l
		}
	}
	return nil
}

// table renders as aligned text and as Markdown.
type table struct {
	title string
	head  []string
	rows  [][]string
	notes []string
}

func (t *table) add(cells ...string) { t.rows = append(t.rows, cells) }

func (t *table) text() string {
	var sb strings.Builder
	sb.WriteString("\n" + t.title + "\n" + strings.Repeat("-", len([]rune(t.title))) + "\n")
	tw := tabwriter.NewWriter(&sb, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(t.head, "\t"))
	for _, r := range t.rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	tw.Flush()
	for _, n := range t.notes {
		sb.WriteString("  " + n + "\n")
	}
	return sb.String()
}

func (t *table) markdown() string {
	var sb strings.Builder
	sb.WriteString("\n## " + t.title + "\n\n")
	sb.WriteString("| " + strings.Join(t.head, " | ") + " |\n")
	sb.WriteString("|" + strings.Repeat("---|", len(t.head)) + "\n")
	for _, r := range t.rows {
		cells := make([]string, len(r))
		for i, c := range r {
			cells[i] = strings.ReplaceAll(c, "|", `\|`)
		}
		sb.WriteString("| " + strings.Join(cells, " | ") + " |\n")
	}
	if len(t.notes) > 0 {
		sb.WriteString("\n")
		for _, n := range t.notes {
			sb.WriteString(n + "\n")
		}
	}
	return sb.String()
}

func secs(d time.Duration) string {
	if d == 0 {
		return "–"
	}
	if d < time.Second {
		return fmt.Sprintf("%.0f ms", float64(d)/1e6)
	}
	return fmt.Sprintf("%.2f s", d.Seconds())
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/1e6) }

func mib(b int64) string {
	if b == 0 {
		return "–"
	}
	return fmt.Sprintf("%.0f MB", float64(b)/1e6)
}

func perNode(d time.Duration, n int) string {
	if d == 0 || n == 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f ms", float64(d)/1e6/float64(n))
}

func ratio(peer, nslab time.Duration) string {
	if peer == 0 || nslab == 0 {
		return "–"
	}
	return fmt.Sprintf("×%.1f", float64(peer)/float64(nslab))
}

// status is the outcome of a run in a few words.
func (l *lifecycle) status() string {
	switch {
	case l.Err != "":
		return "FAILED: " + l.Err
	case !l.VerifyOK && l.VerifyLater:
		return "probes lost right after up; all answer 5 s later"
	case !l.VerifyOK:
		return "reachability FAILED"
	case len(l.Left) > 0:
		return "LEFT: " + strings.Join(l.Left, ", ")
	}
	return "ok"
}

// rendered is the report in both forms.
type rendered struct{ text, markdown string }

func (b *bench) render(interrupted bool) rendered {
	switch b.cfg.only {
	case "services":
		return b.renderServicesOnly()
	case "multihost":
		return b.renderMultihostOnly()
	}
	r := &b.res
	var tables []*table
	tables = append(tables, b.targetTable(), b.starTable(), b.scalingTable())
	if t := b.reconcileTable(); t != nil {
		tables = append(tables, t)
	}
	if t := b.bigTable(b.res.big); t != nil {
		tables = append(tables, t)
	}
	if t := b.bigTable(b.res.huge); t != nil {
		tables = append(tables, t)
	}
	if t := b.execTable(); t != nil {
		tables = append(tables, t)
	}
	if t := b.tcpTable(); t != nil {
		tables = append(tables, t)
	}
	if t := b.shapingTable(); t != nil {
		tables = append(tables, t)
	}
	if t := b.servicesTable(); t != nil {
		tables = append(tables, t)
	}
	tables = append(tables, b.multihostTables()...)
	checks := &table{title: "Reachability checked after each up (not timed)", head: []string{"run", "topology", "made by", "check"}}
	for _, l := range append(append([]*lifecycle{}, r.runs...), r.big, r.huge) {
		if l == nil || l.Verify == "" {
			continue
		}
		checks.add(l.label(), orDash(l.Shape, l.Topo), l.Gen, l.Verify)
	}
	tables = append(tables, checks)

	b.explainLosses()
	b.machine.LoadEnd, b.machine.OthersEnd = loadAvg(), otherNetns()
	m := b.machine
	busy := fmt.Sprintf("load average %s → %s; other network namespaces on the machine %d → %d (start → end)",
		m.LoadStart, m.LoadEnd, m.OthersStart, m.OthersEnd)
	var text, md strings.Builder
	if interrupted {
		text.WriteString("\nINTERRUPTED: partial results\n")
	}
	fmt.Fprintf(&text, "\nnslab %s on %s, %s\n%s\n", m.Commit, m.short(), m.Date, busy)
	for _, t := range tables {
		text.WriteString(t.text())
	}
	if len(r.notes) > 0 {
		text.WriteString("\nNotes\n-----\n")
		for _, n := range r.notes {
			text.WriteString("- " + n + "\n")
		}
	}

	md.WriteString("# nslab benchmark results\n\n")
	fmt.Fprintf(&md, "Written by the benchmark in `bench/` on %s. Run it again with\n"+
		"`%s` from the repository root; it builds every\n"+
		"lab below with each tool, removes everything it made, and rewrites this file.\n",
		m.Date, strings.Join(append([]string{`sudo env "PATH=$PATH" go run ./bench`}, b.cfg.args...), " "))
	mt := &table{title: "Machine", head: []string{"", ""}}
	mt.add("date", m.Date)
	mt.add("CPUs (nproc)", fmt.Sprint(m.CPUs))
	mt.add("CPU model", m.CPU)
	mt.add("memory", fmt.Sprintf("%.1f GiB", m.MemGiB))
	mt.add("kernel", m.Kernel)
	mt.add("distribution", m.Distro)
	mt.add("Go", m.Go)
	mt.add("nslab commit", "`"+m.Commit+"`")
	mt.add("other activity", busy)
	if b.mininet.ok {
		mt.add("Mininet", b.mininet.version)
	}
	if iv := strings.TrimSpace(firstLine(outputQuiet("iperf3", "--version"))); iv != "" {
		mt.add("iperf3", iv)
	}
	if len(m.Dirty) > 0 {
		mt.notes = append(mt.notes, fmt.Sprintf("`-dirty`: %d files outside bench/ differ from the commit (others' work in progress in this checkout): %s.",
			len(m.Dirty), strings.Join(firstN(m.Dirty, 8), ", ")))
	}
	md.WriteString(mt.markdown())
	for _, t := range tables {
		md.WriteString(t.markdown())
	}
	if len(r.notes) > 0 {
		md.WriteString("\n## Notes\n\n")
		for _, n := range r.notes {
			md.WriteString("- " + n + "\n")
		}
	}
	md.WriteString("\n## Commands run\n\nIn this order; `$NSLAB` is the binary built at the start, `$TMP` the\n" +
		"bench's temporary directory (topology files). Each timed command is one row above.\n\n```sh\n")
	for _, c := range b.commands {
		md.WriteString(c + "\n")
	}
	md.WriteString("```\n")
	text.WriteString("\nCommands run ($NSLAB = the freshly built nslab, $TMP = the bench's temporary directory)\n")
	for _, c := range b.commands {
		text.WriteString("  " + c + "\n")
	}
	return rendered{text.String(), md.String()}
}

func orDash(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func firstN(s []string, n int) []string {
	if len(s) <= n {
		return s
	}
	return append(append([]string{}, s[:n]...), fmt.Sprintf("… %d more", len(s)-n))
}

func outputQuiet(name string, args ...string) string {
	if !onPath(name) {
		return ""
	}
	return output(context.Background(), name, args...)
}

func (b *bench) starTable() *table {
	t := &table{title: "Star of N nodes on one bridge: time to up and down",
		head: []string{"N", "tool", "up", "down", "up+down", "peer ÷ nslab (up / down / up+down)", "nslab peak RSS", "result"}}
	for _, n := range b.cfg.sizes {
		ns := b.res.find("nslab", n)
		for _, tool := range []string{"nslab", "ip script", "mininet"} {
			l := b.res.find(tool, n)
			if l == nil {
				continue
			}
			up, down := secs(l.Up), secs(l.Down)
			if !l.Split {
				up, down = "–", "–"
			}
			rat, rss := "", ""
			if tool == "nslab" {
				rss = mib(l.RSS)
			} else if ns != nil && ns.Done && l.Done {
				rat = "–"
				if l.Split {
					rat = ratio(l.Up, ns.Up) + " / " + ratio(l.Down, ns.Down) + " / "
				} else {
					rat = "total only / "
				}
				rat += ratio(l.Total, ns.Total)
			}
			total := secs(l.Total)
			if !l.Done {
				total = "–"
			}
			t.add(fmt.Sprint(n), tool, up, down, total, rat, rss, l.status())
		}
	}
	for _, n := range b.cfg.sizes {
		for _, tool := range []string{"nslab", "ip script", "mininet"} {
			if l := b.res.find(tool, n); l != nil && len(l.UpRuns) > 1 {
				t.notes = append(t.notes, fmt.Sprintf("%s N=%d, median of %d builds: up %s; down %s.", tool, n, len(l.UpRuns), runList(l.UpRuns), runList(l.DownRuns)))
			}
		}
	}
	t.notes = append(t.notes,
		fmt.Sprintf("nslab builds every star %s; the peers as often up to N=200, once above.", times(b.cfg.repeat)),
		"Same shape for every tool: N nodes, one Linux bridge, one veth each. nslab and the ip script are dual-stack",
		"(IPv4 + IPv6 on every node and on the bridge's host side); Mininet's single,N gives IPv4 only (plus the kernel's",
		"link-local IPv6). nslab's up returns when every link is up and every address usable (DAD off); the ip script",
		"returns when its last command does (IPv6 addresses still tentative); Mininet is timed as a whole process and",
		"split at its \"*** Stopping\" line (up includes Python's start). Every timed build starts after a 2 s pause, so that",
		"the kernel has finished freeing the previous lab's namespaces.")
	return t
}

func (b *bench) scalingTable() *table {
	t := &table{title: "Scaling: time per node", head: []string{"N", "tool", "topology", "up", "down", "up per node", "down per node", "nslab peak RSS", "CPU used by others"}}
	runs := append([]*lifecycle{}, b.res.runs...)
	for _, l := range []*lifecycle{b.res.big, b.res.huge} {
		if l != nil {
			runs = append(runs, l)
		}
	}
	sort.SliceStable(runs, func(i, j int) bool { return runs[i].N < runs[j].N })
	for _, l := range runs {
		if !l.Done || !l.Split {
			continue
		}
		rss := ""
		if l.Tool == "nslab" {
			rss = mib(max(l.RSS, l.CheckRSS))
		}
		t.add(fmt.Sprint(l.N), l.Tool, orDash(l.Topo, l.Shape), secs(l.Up), secs(l.Down), perNode(l.Up, l.N), perNode(l.Down, l.N), rss,
			fmt.Sprintf("%.0f%%", l.Others*100))
	}
	t.notes = append(t.notes, "CPU used by others: the largest share of the machine's CPU time, during one of the row's timed commands,",
		"that the command and its children did not use themselves: other work on the machine, and kernel threads",
		"(which free namespaces, for one). A high value means the row was measured on a busy machine.")
	return t
}

func (b *bench) bigTable(l *lifecycle) *table {
	if l == nil {
		return nil
	}
	t := &table{title: fmt.Sprintf("Large lab: %d nodes with nslab", l.N), head: []string{"", ""}}
	t.add("topology", orDash(l.Topo, "–"))
	t.add("made by", orDash(l.Gen, "–"))
	t.add("in the file", orDash(l.Shape, "–"))
	for _, f := range l.Failed {
		t.add("FAILED attempt", f)
	}
	t.add("up", secs(l.Up))
	t.add("sampled check", orDash(l.Verify, "not run"))
	t.add("down", secs(l.Down))
	t.add("peak RSS (up, down / check)", mib(l.RSS)+" / "+mib(l.CheckRSS))
	if l.MemPerNode > 0 {
		t.add("kernel memory per node", kib(l.MemPerNode)+" (MemAvailable before up less after it settled, over the nodes of the file)")
	}
	left := "nothing"
	if l.Settled > 200*time.Millisecond {
		left = fmt.Sprintf("nothing, %s after down returned (the kernel frees namespaces and their cables asynchronously)", secs(l.Settled))
	}
	if len(l.Left) > 0 {
		left = strings.Join(summarize(l.Left, 5), ", ")
	}
	if !l.Done {
		left = "not verified (run incomplete)"
	}
	t.add("left after down", left)
	t.add("result", l.status())
	return t
}

func (b *bench) execTable() *table {
	if len(b.res.exec) == 0 {
		return nil
	}
	t := &table{title: "Running a command in a node", head: []string{"command", "median", "p90", "runs"}}
	for _, s := range b.res.exec {
		if s.Err != "" {
			t.add(s.Name, "FAILED", s.Err, fmt.Sprint(len(s.Times)))
			continue
		}
		t.add(s.Name, ms(median(s.Times)), ms(percentile(s.Times, 90)), fmt.Sprint(len(s.Times)))
	}
	t.notes = append(t.notes, "Wall time from fork to exit as seen by the bench, round-robin over the commands, after 5 warm-up runs each.")
	return t
}

func (b *bench) tcpTable() *table {
	if len(b.res.tcp) == 0 {
		return nil
	}
	t := &table{title: "TCP throughput between two nodes on a bridge (iperf3, one stream)", head: []string{"path", "runs (Gbit/s)", "median", "÷ by hand"}}
	hand := medianF(b.res.tcp[len(b.res.tcp)-1].Gbps)
	for _, p := range b.res.tcp {
		if p.Err != "" && len(p.Gbps) == 0 {
			t.add(p.Name, "FAILED: "+p.Err, "", "")
			continue
		}
		var runs []string
		for _, g := range p.Gbps {
			runs = append(runs, fmt.Sprintf("%.2f", g))
		}
		rat := "–"
		if hand > 0 {
			rat = fmt.Sprintf("%.3f", medianF(p.Gbps)/hand)
		}
		t.add(p.Name, strings.Join(runs, ", "), fmt.Sprintf("%.2f", medianF(p.Gbps)), rat)
	}
	t.notes = append(t.notes, fmt.Sprintf("iperf3 -c from node 2 to iperf3 -s in node 1, %d s per run, paths alternating.", b.cfg.tcpSecs))
	return t
}

func medianF(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := append([]float64{}, v...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func runList(d []time.Duration) string {
	s := make([]string, len(d))
	for i, x := range d {
		s[i] = secs(x)
	}
	return strings.Join(s, ", ")
}

// explainLosses adds a note when probes were lost right after up but
// answered later: the rows alone would read as flaky connectivity.
func (b *bench) explainLosses() {
	for _, l := range append(append([]*lifecycle{}, b.res.runs...), b.res.big, b.res.huge) {
		if l != nil && l.NeighFull {
			b.res.noteOnce("neigh", "The kernel's neighbour table was full during %s (\"neighbor table overflow\" in the kernel log). "+
				"There is one ARP and one NDP table for all namespaces of the machine together, with at most "+
				"net.ipv4.neigh.default.gc_thresh3 / net.ipv6.neigh.default.gc_thresh3 entries (%s / %s here); past it, "+
				"new neighbours are not resolved and probes fail until entries expire. Mininet raises these limits at start "+
				"(to 16384); nslab and this bench leave the host's settings alone.", l.label(),
				strings.TrimSpace(readFileString("/proc/sys/net/ipv4/neigh/default/gc_thresh3")),
				strings.TrimSpace(readFileString("/proc/sys/net/ipv6/neigh/default/gc_thresh3")))
		}
	}
	var runs []string
	for _, l := range append(append([]*lifecycle{}, b.res.runs...), b.res.big, b.res.huge) {
		if l != nil && l.Tool == "nslab" && l.Verify != "" && !l.VerifyOK && l.VerifyLater {
			runs = append(runs, l.label())
		}
	}
	if len(runs) == 0 {
		return
	}
	backlog := strings.TrimSpace(readFileString("/proc/sys/net/core/netdev_max_backlog"))
	b.res.note("Probes lost right after `nslab up` returned, all answered 5 s later: %s. While a segment of N ports comes up, "+
		"every new node's IPv6 multicast (here 4 MLDv2 reports and 2 router solicitations per node, per /proc/net/snmp6; "+
		"router_solicitations is -1, unlimited with backoff, by default) is flooded by the bridge to every other port: "+
		"about 6·N² packet copies within seconds. The per-CPU input backlog (net.core.netdev_max_backlog = %s) overflows "+
		"and the kernel drops packets, the first ARP and neighbour solicitations of the probes among them; the drop counts "+
		"from /proc/net/softnet_stat are in the check column.", strings.Join(runs, ", "), backlog)
}

func readFileString(path string) string {
	data, _ := os.ReadFile(path)
	return string(data)
}

func times(n int) string {
	switch n {
	case 1:
		return "once"
	case 2:
		return "twice"
	}
	return fmt.Sprintf("%d times", n)
}
