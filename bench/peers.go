package main

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/nslab/nslab/kernel"
)

// mininetInfo says whether and how Mininet runs here.
type mininetInfo struct {
	ok      bool
	python  string // the interpreter of the mn script
	mn      string
	version string
}

// preparePeers finds (with -install: installs) Mininet and iperf3, and
// notes what is missing.
func (b *bench) preparePeers(ctx context.Context) {
	var missing []string
	if b.cfg.peers["mininet"] && (!onPath("mn") || !onPath("brctl")) {
		missing = append(missing, "mininet", "bridge-utils")
	}
	if !onPath("iperf3") {
		missing = append(missing, "iperf3")
	}
	if len(missing) > 0 && b.cfg.install {
		b.install(ctx, missing)
	}
	if b.cfg.peers["ip"] && !onPath("ip") {
		b.res.note("peer ip skipped: no ip command (apt-get install iproute2)")
		delete(b.cfg.peers, "ip")
	}
	b.iperf3 = onPath("iperf3")
	if b.cfg.peers["mininet"] {
		b.findMininet(ctx)
	}
}

// install runs apt-get for the missing packages. Mininet's recommended
// openvswitch-switch is left out: --switch lxbr needs no Open vSwitch, and
// it would start a daemon.
func (b *bench) install(ctx context.Context, pkgs []string) {
	argv := append([]string{"apt-get", "install", "-y", "--no-install-recommends"}, pkgs...)
	env := []string{"DEBIAN_FRONTEND=noninteractive"}
	progress("installing %s", strings.Join(pkgs, " "))
	_, err := b.run(ctx, runOpts{timeout: 10 * time.Minute, env: env}, argv...)
	if err != nil && ctx.Err() == nil {
		b.run(ctx, runOpts{timeout: 5 * time.Minute, env: env}, "apt-get", "update")
		_, err = b.run(ctx, runOpts{timeout: 10 * time.Minute, env: env}, argv...)
	}
	if err != nil {
		b.res.note("-install: `%s` failed: %v", strings.Join(argv, " "), err)
		return
	}
	b.res.note("-install: installed %s with --no-install-recommends (no openvswitch-switch)", strings.Join(pkgs, ", "))
	if running := procsNamed("ovs-vswitchd", "ovsdb-server"); len(running) > 0 {
		b.res.note("Open vSwitch daemons are running on this machine (%s); the bench does not use them", strings.Join(running, ", "))
	}
}

func (b *bench) findMininet(ctx context.Context) {
	switch {
	case !onPath("mn"):
		b.res.note("peer mininet skipped: mn is not installed (run with -install, or apt-get install mininet bridge-utils)")
		return
	case !onPath("brctl"):
		b.res.note("peer mininet skipped: Mininet's Linux-bridge switch needs brctl (apt-get install bridge-utils)")
		return
	case linkExists("s1") || len(mininetPorts()) > 0:
		b.res.note("peer mininet skipped: a link named s1 or s1-ethN exists, and Mininet would delete and re-create it")
		return
	}
	mn, _ := exec.LookPath("mn")
	m := mininetInfo{mn: mn, python: "/usr/bin/python3"}
	if data, err := os.ReadFile(mn); err == nil && strings.HasPrefix(string(data), "#!") {
		if f := strings.Fields(strings.TrimPrefix(firstLine(string(data)), "#!")); len(f) > 0 {
			m.python = f[len(f)-1]
			if f[0] != "/usr/bin/env" {
				m.python = f[0]
			}
		}
	}
	vctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	vout, _ := exec.CommandContext(vctx, m.python, mn, "--version").CombinedOutput()
	m.version = strings.TrimSpace(lastLine(string(vout)))
	if m.version == "" {
		b.res.note("peer mininet skipped: `%s %s --version` failed", m.python, mn)
		return
	}
	if !strings.HasPrefix(m.version, "2.3") {
		b.res.note("Mininet here is %s, not 2.3", m.version)
	}
	m.ok = true
	b.mininet = m
}

func onPath(name string) bool {
	_, err := exec.LookPath(name)
	return err == nil
}

// procsNamed lists running processes with one of the given names
// (read-only: /proc/PID/comm).
func procsNamed(names ...string) []string {
	var found []string
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		comm, err := os.ReadFile("/proc/" + e.Name() + "/comm")
		if err != nil {
			continue
		}
		c := strings.TrimSpace(string(comm))
		for _, n := range names {
			if c == n {
				found = append(found, c+" "+e.Name())
			}
		}
	}
	return found
}

// peerRepeat is how often a peer builds a star of n: as often as nslab
// for the small ones, where one slow run would decide a target, once for
// the large ones, which take minutes.
func (b *bench) peerRepeat(n int) int {
	if n <= 200 {
		return b.cfg.repeat
	}
	return 1
}

// ipStar builds and removes the star with bench/star-ip.sh.
func (b *bench) ipStar(ctx context.Context, n int) *lifecycle {
	lc := &lifecycle{Tool: "ip script", N: n, Nodes: n, Topo: fmt.Sprintf("star of %d, dual-stack", n), Split: true,
		Gen: "bench/star-ip.sh"}
	for rep := 0; rep < b.peerRepeat(n) && ctx.Err() == nil && lc.Err == ""; rep++ {
		b.ipOnce(ctx, lc, n, rep == 0)
	}
	return lc
}

// ipOnce adds one build of the ip script's star to lc, probed when probe.
func (b *bench) ipOnce(ctx context.Context, lc *lifecycle, n int, probe bool) {
	if left := leftovers("", false); hasAnyPrefix(strings.Join(left, "\n"), []string{"namespace /run/netns/bip.", "link bip-"}) || linkExists("bip-br") {
		lc.Err = "objects named bip.* / bip-* exist already: not touched"
		return
	}
	step := b.clean.add(fmt.Sprintf("star-ip.sh down %d", n), func() error {
		_, err := b.run(context.Background(), runOpts{timeout: 5 * time.Minute, norecord: true}, "bash", b.script, "down", strconv.Itoa(n))
		return err
	})
	timeout := time.Minute + time.Duration(n)*300*time.Millisecond
	b.settle(ctx)
	progress("%s: bench/star-ip.sh up %d", lc.label(), n)
	up, err := b.run(ctx, runOpts{timeout: timeout}, "bash", b.script, "up", strconv.Itoa(n))
	lc.Others = max(lc.Others, up.Others)
	if err != nil {
		lc.Err = "up: " + err.Error()
		return
	}
	lc.UpRuns = append(lc.UpRuns, up.Wall)
	lc.Up = median(lc.UpRuns)
	progress("%s: up in %s", lc.label(), secs(up.Wall))
	if probe {
		pairs := samplePairs(ipStarFile(n), func(node string) string { return "/run/netns/bip." + node }, min(20, n))
		settled := waitDAD(ctx, pairs, 10*time.Second)
		lc.Verify, lc.VerifyOK, lc.VerifyLater = probeWithRetry(ctx, pairs)
		lc.Verify += "; " + settled
		progress("%s: check: %s", lc.label(), lc.Verify)
	}
	if ctx.Err() != nil {
		return
	}
	down, err := b.run(ctx, runOpts{timeout: timeout}, "bash", b.script, "down", strconv.Itoa(n))
	lc.Others = max(lc.Others, down.Others)
	if err != nil {
		lc.Err = "down: " + err.Error()
		return
	}
	b.clean.disarm(step)
	lc.DownRuns = append(lc.DownRuns, down.Wall)
	lc.Down = median(lc.DownRuns)
	lc.Total = lc.Up + lc.Down
	lc.Done = true
	left, waited := settledLeftovers("", false, 10*time.Second)
	lc.Settled = max(lc.Settled, waited)
	for _, l := range left {
		if strings.Contains(l, "bip") {
			lc.Left = append(lc.Left, l)
		}
	}
	progress("%s: down in %s%s", lc.label(), secs(down.Wall), leftNote(lc.Left))
}

// ipStarFile describes the star that star-ip.sh builds, for the prober.
func ipStarFile(n int) *labFile {
	lf := &labFile{Name: "bip", Nodes: map[string][]netip.Addr{}, Ifaces: map[string]int{}, Bridges: 1}
	for i := 1; i <= n; i++ {
		a := i + 1
		node := "h" + strconv.Itoa(i)
		lf.Nodes[node] = []netip.Addr{
			netip.AddrFrom4([4]byte{10, 201, byte(a >> 8), byte(a)}),
			netip.MustParseAddr(fmt.Sprintf("fd10:201::%x", a)),
		}
		lf.Ifaces[node] = 1
	}
	return lf
}

// mnWrapper runs /usr/bin/mn unchanged except that Mininet's cleanup() is
// disabled: on an error or a Ctrl-C, mn calls it, and it kills processes
// by name (killall, pkill -f), deletes every link named *-ethN and
// removes /tmp/*.log. The bench removes what mn leaves by PID and by the
// names it checked were free.
const mnWrapper = `import runpy, sys
import mininet.clean as clean
def _no_cleanup(*args, **kwargs):
    sys.stderr.write("bench: Mininet's cleanup() disabled (it kills by name); the bench cleans up\n")
clean.cleanup = _no_cleanup
clean.Cleanup.cleanup = classmethod(lambda cls: _no_cleanup())
sys.argv = ["mn"] + sys.argv[1:]
runpy.run_path(%s, run_name="__main__")
`

// mininetSysctls are the host settings Mininet raises at start
// (mininet.util.fixLimits); the bench puts them back.
var mininetSysctls = []string{
	"fs.file-max", "net.core.wmem_max", "net.core.rmem_max", "net.ipv4.tcp_rmem", "net.ipv4.tcp_wmem",
	"net.core.netdev_max_backlog", "net.ipv4.neigh.default.gc_thresh1", "net.ipv4.neigh.default.gc_thresh2",
	"net.ipv4.neigh.default.gc_thresh3", "net.ipv4.route.max_size", "kernel.pty.max",
}

func sysctlPath(key string) string { return "/proc/sys/" + strings.ReplaceAll(key, ".", "/") }

func readSysctls(keys []string) map[string]string {
	m := map[string]string{}
	for _, k := range keys {
		if data, err := os.ReadFile(sysctlPath(k)); err == nil {
			m[k] = strings.TrimSpace(string(data))
		}
	}
	return m
}

// restoreSysctls writes back the values that changed and names them.
func restoreSysctls(saved map[string]string) ([]string, error) {
	var changed []string
	var firstErr error
	now := readSysctls(mininetSysctls)
	for k, v := range saved {
		if now[k] == v {
			continue
		}
		changed = append(changed, k)
		if err := os.WriteFile(sysctlPath(k), []byte(v), 0o644); err != nil && firstErr == nil {
			firstErr = fmt.Errorf("restoring %s: %w", k, err)
		}
	}
	return changed, firstErr
}

// mininetStar runs mn with a single Linux bridge and n hosts, no
// controller and no test: it builds the network and tears it down. Up and
// down are split at mn's "*** Stopping" line.
func (b *bench) mininetStar(ctx context.Context, n int) *lifecycle {
	lc := &lifecycle{Tool: "mininet", N: n, Nodes: n, Topo: fmt.Sprintf("single,%d (IPv4; kernel link-local IPv6)", n),
		Gen: "mn --topo single," + strconv.Itoa(n), Split: true}
	for rep := 0; rep < b.peerRepeat(n) && ctx.Err() == nil && lc.Err == ""; rep++ {
		b.mininetOnce(ctx, lc, n)
	}
	return lc
}

// mininetOnce adds one run of mn to lc.
func (b *bench) mininetOnce(ctx context.Context, lc *lifecycle, n int) {
	if linkExists("s1") || len(mininetPorts()) > 0 {
		lc.Err = "a link s1 or s1-ethN exists: not touched"
		return
	}
	wrapper := filepath.Join(b.tmp, "mn-nocleanup.py")
	src := fmt.Sprintf(mnWrapper, strconv.Quote(b.mininet.mn))
	if err := os.WriteFile(wrapper, []byte(src), 0o644); err != nil {
		lc.Err = err.Error()
		return
	}
	saved := readSysctls(mininetSysctls)
	step := b.clean.add("Mininet leftovers", func() error { return b.mininetLeftovers(saved) })
	args := []string{"--switch", "lxbr", "--controller", "none", "--topo", "single," + strconv.Itoa(n), "--test", "none"}
	b.recordLine("mn " + strings.Join(args, " ") +
		"     # run as: " + b.mininet.python + " $TMP/mn-nocleanup.py …, i.e. mn with its name-based cleanup() disabled (bench/peers.go)")
	var stopAt time.Duration
	var completed string
	lines := func(at time.Duration, line string) {
		if stopAt == 0 && strings.HasPrefix(line, "*** Stopping") {
			stopAt = at
		}
		if strings.HasPrefix(line, "completed in") {
			completed = strings.TrimSpace(line)
		}
	}
	b.settle(ctx)
	progress("%s: mn --switch lxbr --controller none --topo single,%d --test none", lc.label(), n)
	timeout := 2*time.Minute + time.Duration(n)*300*time.Millisecond
	r, err := b.run(ctx, runOpts{timeout: timeout, lines: lines, env: []string{"PYTHONUNBUFFERED=1"}, norecord: true},
		append([]string{b.mininet.python, wrapper}, args...)...)
	lerr := b.mininetLeftovers(saved)
	b.clean.disarm(step)
	if err != nil {
		lc.Err = err.Error()
		return
	}
	if strings.Contains(r.Out+r.Err, "Caught exception") {
		lc.Err = "mn failed: " + r.tail()
		return
	}
	lc.TotalRuns = append(lc.TotalRuns, r.Wall)
	lc.Total = median(lc.TotalRuns)
	lc.Others = max(lc.Others, r.Others)
	if stopAt > 0 && lc.Split {
		lc.UpRuns = append(lc.UpRuns, stopAt)
		lc.DownRuns = append(lc.DownRuns, r.Wall-stopAt)
		lc.Up, lc.Down = median(lc.UpRuns), median(lc.DownRuns)
	} else {
		lc.Split = false
	}
	if lc.Verify == "" {
		lc.Verify = "not probed (" + completed + " by mn's own clock)"
	}
	lc.VerifyOK, lc.VerifyLater = true, true
	lc.Done = true
	if lerr != nil {
		lc.Left = append(lc.Left, lerr.Error())
	}
	progress("%s: up %s, down %s, total %s", lc.label(), secs(stopAt), secs(r.Wall-stopAt), secs(r.Wall))
}

// mininetLeftovers ends the processes mn left (its host shells, which
// became the bench's children when mn exited), deletes the switch s1 and
// its ports when they remain (the bench checked s1 did not exist before),
// and puts back the sysctls Mininet raised.
func (b *bench) mininetLeftovers(saved map[string]string) error {
	var problems []string
	if ended := reapOrphans(); len(ended) > 0 {
		b.res.note("Mininet left %d processes; the bench ended them by PID", len(ended))
	}
	// The ports go with the hosts' namespaces, which the kernel frees
	// asynchronously once the host shells are gone.
	deadline := time.Now().Add(60 * time.Second)
	for len(mininetPorts()) > 0 && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
	}
	if linkExists("s1") {
		exec.Command("ip", "link", "del", "s1").Run()
	}
	for _, p := range mininetPorts() {
		// Checked absent before mn ran, so these are Mininet's.
		exec.Command("ip", "link", "del", p).Run()
	}
	for i := 0; i < 50 && (linkExists("s1") || len(mininetPorts()) > 0); i++ {
		time.Sleep(100 * time.Millisecond)
	}
	if linkExists("s1") {
		problems = append(problems, "link s1 is still there")
	}
	if p := mininetPorts(); len(p) > 0 {
		problems = append(problems, fmt.Sprintf("%d links s1-eth* are still there", len(p)))
	}
	changed, err := restoreSysctls(saved)
	sort.Strings(changed)
	if len(changed) > 0 {
		b.res.noteOnce("mn-sysctl", "Mininet raises host settings at start (%s); the bench put the old values back after each run", strings.Join(changed, ", "))
	}
	if err != nil {
		problems = append(problems, err.Error())
	}
	if len(problems) > 0 {
		return fmt.Errorf("%s", strings.Join(problems, "; "))
	}
	return nil
}

// waitDAD waits until no address of the sampled nodes is tentative: the
// ip script returns before IPv6 duplicate address detection is done, and
// until then the addresses do not answer. It says how long that took.
func waitDAD(ctx context.Context, pairs []pair, limit time.Duration) string {
	seen := map[string]bool{}
	var nodes []string
	for _, p := range pairs {
		for _, n := range []string{p.from, p.to} {
			if !seen[n] {
				seen[n] = true
				nodes = append(nodes, n)
			}
		}
	}
	start := time.Now()
	for time.Since(start) < limit && ctx.Err() == nil {
		tentative := 0
		for _, n := range nodes {
			out, _ := exec.Command("ip", "-n", "bip."+n, "-6", "addr", "show", "tentative").Output()
			if len(strings.TrimSpace(string(out))) > 0 {
				tentative++
			}
		}
		if tentative == 0 {
			return fmt.Sprintf("IPv6 of the %d sampled nodes usable %s after the script returned (DAD)", len(nodes), secs(time.Since(start)))
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Sprintf("IPv6 of the sampled nodes still tentative %s after the script returned", secs(limit))
}

// mininetPorts lists the root-namespace links named s1-ethN (see
// linkExists for why not from /sys/class/net).
func mininetPorts() []string {
	c := kernel.NewConn()
	defer c.Close()
	links, _ := c.LinkList("") // datagrams of any size (see kernel.Conn.LinkList)
	var ports []string
	for _, l := range links {
		if strings.HasPrefix(l.Attrs().Name, "s1-eth") {
			ports = append(ports, l.Attrs().Name)
		}
	}
	return ports
}
