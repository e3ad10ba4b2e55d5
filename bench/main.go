// Command bench measures nslab against the ways people build the same
// networks today: a plain script of ip commands (bench/star-ip.sh, the
// seed's way) and Mininet 2.3 with Linux bridges. In one run it builds
// stars of N nodes with each, a large lab with nslab alone, times
// `nslab exec` against nsenter and ip netns exec, and compares TCP
// throughput over an nslab lab with the same path built by hand, and
// measures services (a star whose nodes run one each against the same
// star without, the supervisor's memory and CPU, a restart) and labs
// across machines (a lab over three simulated hosts against the same lab
// on one, the ssh sessions per up, a TCP stream between hosts). It prints
// the tables and writes them, with the machine, the commit and the exact
// commands, to bench/RESULTS.md.
//
//	sudo env "PATH=$PATH" go run ./bench                 # the full run, under ten minutes
//	sudo env "PATH=$PATH" go run ./bench -quick          # a smoke run with small sizes
//	sudo env "PATH=$PATH" go run ./bench -only services  # services alone, spliced into RESULTS.md
//	sudo env "PATH=$PATH" go run ./bench -only multihost -multihost 30,300,3000  # issue 15's figures alone
//
// Everything the bench makes is removed at the end, also when a step
// fails or the run is interrupted; what could not be removed is printed.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/nslab/nslab/internal/netnsdir"
)

type config struct {
	sizes     []int
	scale     []int
	big       int
	huge      int // nodes of a second large lab, for the scaling table; 0 skips it
	peers     map[string]bool
	out       string
	quick     bool
	install   bool
	repeat    int
	execRuns  int
	tcpRuns   int
	tcpSecs   int
	services  int    // nodes of the services part; 0 skips it
	multihost []int  // sizes of the lab across three simulated hosts; none skips the part
	only      string // a part alone (services, multihost), spliced into -out
	args      []string
}

func parseFlags(args []string) (*config, error) {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: sudo env \"PATH=$PATH\" go run ./bench [flags]\n\n"+
			"Builds the same topologies with nslab, bench/star-ip.sh (ip commands) and Mininet,\n"+
			"prints the table and writes it to -out. Everything it makes is removed at the end.\n\n")
		fs.PrintDefaults()
	}
	sizes := fs.String("sizes", "200,1000", "star sizes built by every tool")
	scale := fs.String("scale", "100,1000", "extra star sizes built by nslab for the scaling table")
	big := fs.Int("big", 10000, "nodes of the large nslab-only lab (leaf-spine, else a star); 0 skips it")
	huge := fs.Int("huge", 0, "nodes of a second, larger nslab-only lab for the scaling table, such as 50000 (half an hour on 2 cores, and 15 GB of kernel memory); 0 skips it")
	peers := fs.String("peers", "ip,mininet", "peers to compare with: ip (bench/star-ip.sh), mininet")
	out := fs.String("out", "bench/RESULTS.md", "where to write the results (with -quick: only when set)")
	quick := fs.Bool("quick", false, "smoke run: small sizes, few repetitions")
	install := fs.Bool("install", false, "apt-get install mininet, bridge-utils and iperf3 when missing")
	repeat := fs.Int("repeat", 3, "builds of each nslab star (median reported; the peers build once)")
	execRuns := fs.Int("exec-runs", 200, "runs of each command in the exec test")
	tcpRuns := fs.Int("tcp-runs", 3, "iperf3 runs per path in the TCP test")
	tcpSecs := fs.Int("tcp-secs", 3, "seconds per iperf3 run")
	services := fs.Int("services", targetServicesNodes, "nodes of the services part (a star with one sleep infinity each); 0 skips it")
	multihost := fs.String("multihost", "30,300", "node counts of a lab over three simulated hosts, timed against the same lab on one host, with ssh sessions counted and a TCP stream across hosts; 30,300,3000 for issue 15's figures; \"\" skips the part")
	only := fs.String("only", "", "services or multihost: run that part alone and replace its section of -out")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	c := &config{big: *big, huge: *huge, out: *out, quick: *quick, install: *install,
		repeat: *repeat, execRuns: *execRuns, tcpRuns: *tcpRuns, tcpSecs: *tcpSecs, args: args, peers: map[string]bool{},
		services: *services, only: *only}
	if *only != "" && *only != "services" && *only != "multihost" {
		return nil, fmt.Errorf("-only %q: the parts that run alone are services and multihost", *only)
	}
	if c.quick {
		defaults := map[string]func(){
			"sizes":     func() { *sizes = "20,50" },
			"scale":     func() { *scale = "20" },
			"big":       func() { c.big = 300 },
			"out":       func() { c.out = "" },
			"exec-runs": func() { c.execRuns = 20 },
			"repeat":    func() { c.repeat = 1 },
			"tcp-runs":  func() { c.tcpRuns = 1 },
			"tcp-secs":  func() { c.tcpSecs = 1 },
			"services":  func() { c.services = 50 },
			"multihost": func() { *multihost = "30" },
		}
		for name, f := range defaults {
			if !set[name] {
				f()
			}
		}
	}
	var err error
	if c.sizes, err = intList(*sizes); err != nil {
		return nil, fmt.Errorf("-sizes: %w", err)
	}
	if c.scale, err = intList(*scale); err != nil {
		return nil, fmt.Errorf("-scale: %w", err)
	}
	for _, n := range append(append([]int{}, c.sizes...), c.scale...) {
		if n > 1000 {
			return nil, fmt.Errorf("star size %d: one bridge holds at most 1024 ports; use -big for larger labs", n)
		}
	}
	if c.multihost, err = intList(*multihost); err != nil {
		return nil, fmt.Errorf("-multihost: %w", err)
	}
	for _, n := range c.multihost {
		if n < 10 {
			return nil, fmt.Errorf("-multihost: %d nodes: at least 10 (a leaf-spine of 3 leaves)", n)
		}
	}
	for _, p := range strings.Split(*peers, ",") {
		switch p = strings.TrimSpace(p); p {
		case "":
		case "ip", "mininet":
			c.peers[p] = true
		default:
			return nil, fmt.Errorf("-peers: unknown peer %q (ip, mininet)", p)
		}
	}
	if c.services < 0 || c.services > 1000 {
		return nil, fmt.Errorf("-services %d: from 0 to 1000 (one bridge)", c.services)
	}
	if c.big < 0 || c.huge < 0 || c.repeat < 1 || c.execRuns < 1 || c.tcpRuns < 1 || c.tcpSecs < 1 {
		return nil, fmt.Errorf("-big and -huge must be ≥ 0; -repeat, -exec-runs, -tcp-runs and -tcp-secs ≥ 1")
	}
	return c, nil
}

func intList(s string) ([]int, error) {
	var list []int
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil || n < 2 {
			return nil, fmt.Errorf("%q is not a size (an integer ≥ 2)", f)
		}
		list = append(list, n)
	}
	return list, nil
}

// bench holds one run: where things are, what was measured.
type bench struct {
	cfg     *config
	root    string // repository root
	tmp     string // build and topology files
	nslab   string // the built binary
	script  string // bench/star-ip.sh
	clean   cleaner
	started time.Time

	mu       sync.Mutex
	commands []string
	seen     map[string]bool

	machine      machineInfo
	res          results
	mininet      mininetInfo
	iperf3       bool
	noSampleFlag bool // nslab check has no --sample yet
}

var benchStart = time.Now()

// progress prints a progress line on stderr.
func progress(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "[%6.1fs] %s\n", time.Since(benchStart).Seconds(), fmt.Sprintf(format, a...))
}

// record adds a command to the list in RESULTS.md, written with the
// placeholders $NSLAB, $TMP and $REPO for the run's own paths.
func (b *bench) record(argv []string, stdout *os.File) {
	s := b.shellLine(argv)
	if stdout != nil {
		s += " > " + b.short(stdout.Name())
	}
	b.recordLine(s)
}

func (b *bench) recordLine(s string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.seen[s] {
		return
	}
	b.seen[s] = true
	b.commands = append(b.commands, s)
}

func (b *bench) shellLine(argv []string) string {
	q := make([]string, len(argv))
	for i, a := range argv {
		a = b.short(a)
		if strings.ContainsAny(a, " \t'\"*;()|&<>$") && !strings.HasPrefix(a, "$") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		q[i] = a
	}
	return strings.Join(q, " ")
}

func (b *bench) short(s string) string {
	if b.nslab != "" {
		s = strings.ReplaceAll(s, b.nslab, "$NSLAB")
	}
	if b.tmp != "" {
		s = strings.ReplaceAll(s, b.tmp, "$TMP")
	}
	if b.root != "" {
		s = strings.ReplaceAll(s, b.root+"/", "")
	}
	return s
}

// netnsdirState is lab.StateDir, where nslab records what it made of
// /run/netns.
const netnsdirState = "/run/nslab"

func main() {
	cfg, err := parseFlags(os.Args[1:])
	if err == flag.ErrHelp {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench: %v\n", err)
		os.Exit(2)
	}
	os.Exit(run(cfg))
}

func run(cfg *config) int {
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "bench: needs root (namespaces, bridges): sudo env \"PATH=$PATH\" go run ./bench")
		return 2
	}
	root, err := repoRoot()
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench: %v\n", err)
		return 2
	}
	if err := os.Chdir(root); err != nil {
		fmt.Fprintf(os.Stderr, "bench: %v\n", err)
		return 2
	}
	tmp, err := os.MkdirTemp("", "nslab-bench-")
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench: %v\n", err)
		return 1
	}
	defer os.RemoveAll(tmp)
	b := &bench{cfg: cfg, root: root, tmp: tmp, script: filepath.Join(root, "bench", "star-ip.sh"),
		started: time.Now(), seen: map[string]bool{}}
	// The ip script's namespaces share /run/netns with nslab's: the mount
	// goes with the last of them, as after nslab's own labs.
	releaseNetnsDir, err := netnsdir.Hold(netnsdirState)
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench: %v\n", err)
		return 1
	}
	if err := becomeSubreaper(); err != nil {
		progress("warning: cannot become a subreaper (%v): processes Mininet leaves behind are not ended", err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sig := make(chan os.Signal, 4)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	go func() {
		n := 0
		for s := range sig {
			n++
			if n == 1 {
				progress("%v: stopping; the bench removes what it made, wait for it", s)
				cancel()
			} else {
				progress("%v: still removing what the bench made; wait", s)
			}
		}
	}()

	b.all(ctx)

	failed := b.clean.runAll()
	releaseNetnsDir()
	netnsdir.Release(netnsdirState)
	os.Remove(filepath.Join(netnsdirState, ".locks"))
	os.Remove(netnsdirState)
	if ended := reapOrphans(); len(ended) > 0 {
		b.res.note("processes left behind by peers, ended by PID: %s", strings.Join(ended, ", "))
	}
	left, _ := settledLeftovers("", true, 30*time.Second)
	interrupted := ctx.Err() != nil

	report := b.render(interrupted)
	fmt.Print(report.text)
	code := 0
	if len(failed) > 0 || len(left) > 0 {
		fmt.Fprintln(os.Stderr, "\nbench: cleanup did not remove everything:")
		for _, f := range failed {
			fmt.Fprintln(os.Stderr, "  failed: "+f)
		}
		for _, l := range summarize(left, 20) {
			fmt.Fprintln(os.Stderr, "  left:   "+l)
		}
		fmt.Fprintln(os.Stderr, "  remove these by hand (nslab down LAB, ip netns del NAME, ip link del NAME).")
		code = 1
	} else {
		progress("cleanup complete: nothing the bench made is left")
	}
	switch {
	case interrupted:
		progress("interrupted: %s not written", orNone(cfg.out))
		return 130
	case cfg.out == "":
		progress("results not written (-quick without -out)")
	default:
		if cfg.only != "" {
			report.markdown, err = spliceOnly(cfg.out, cfg.only, report.markdown)
			if err != nil {
				fmt.Fprintf(os.Stderr, "bench: %v\n", err)
				return 1
			}
		}
		if err := os.WriteFile(cfg.out, []byte(report.markdown), 0o644); err != nil {
			fmt.Fprintf(os.Stderr, "bench: %v\n", err)
			return 1
		}
		progress("results written to %s", cfg.out)
	}
	return code
}

func orNone(s string) string {
	if s == "" {
		return "nothing"
	}
	return s
}

// all runs every part of the bench; a part that fails is noted and the
// next one runs. An interruption stops it.
func (b *bench) all(ctx context.Context) {
	b.machine = readMachine(ctx)
	progress("machine: %s; nslab at %s", b.machine.short(), b.machine.Commit)
	if err := b.buildNslab(ctx); err != nil {
		b.res.note("building nslab failed, nslab not measured: %v", err)
		progress("building nslab failed: %v", err)
	}
	switch b.cfg.only {
	case "services":
		if b.nslab != "" && b.cfg.services > 0 {
			b.servicesTest(ctx)
		}
		return
	case "multihost":
		if b.nslab != "" && len(b.cfg.multihost) > 0 {
			b.multihostTest(ctx)
		}
		return
	}
	b.preparePeers(ctx)

	sizes := union(b.cfg.sizes, b.cfg.scale)
	for _, n := range sizes {
		if ctx.Err() != nil {
			return
		}
		if b.nslab != "" {
			b.res.add(b.nslabStar(ctx, n))
		}
		if !contains(b.cfg.sizes, n) {
			continue
		}
		if b.cfg.peers["ip"] && ctx.Err() == nil {
			b.res.add(b.ipStar(ctx, n))
		}
		if b.cfg.peers["mininet"] && b.mininet.ok && ctx.Err() == nil {
			b.res.add(b.mininetStar(ctx, n))
		}
	}
	if b.nslab != "" && ctx.Err() == nil {
		b.seedTests(ctx)
	}
	if b.nslab != "" && ctx.Err() == nil {
		b.shapingTest(ctx)
	}
	if b.nslab != "" && b.cfg.services > 0 && ctx.Err() == nil {
		b.servicesTest(ctx)
	}
	if b.nslab != "" && len(b.cfg.multihost) > 0 && ctx.Err() == nil {
		b.multihostTest(ctx)
	}
	if b.nslab != "" && b.cfg.big > 0 && ctx.Err() == nil {
		b.res.big = b.bigRun(ctx, b.cfg.big)
	}
	if b.nslab != "" && b.cfg.huge > 0 && ctx.Err() == nil {
		b.res.huge = b.bigRun(ctx, b.cfg.huge)
	}
}

func union(a, b []int) []int {
	var out []int
	for _, n := range append(append([]int{}, a...), b...) {
		if !contains(out, n) {
			out = append(out, n)
		}
	}
	sort.Ints(out)
	return out
}

func contains(list []int, n int) bool {
	for _, x := range list {
		if x == n {
			return true
		}
	}
	return false
}
