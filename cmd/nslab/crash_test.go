package main

import (
	"bufio"
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/nslab/nslab/kernel"
	"github.com/nslab/nslab/lab"
	"github.com/nslab/nslab/nslabtest"
	"github.com/nslab/nslab/plan"
	"github.com/nslab/nslab/topology"
)

// TestKillAnywhere kills nslab (SIGKILL) at random moments of up, of a
// reconciling up and of down, and checks that the next down leaves
// nothing and the next up converges to the file. NSLAB_KILL_SEED repeats
// a run's draw.
func TestKillAnywhere(t *testing.T) {
	if testing.Short() {
		t.Skip("kills nslab 30 times while it builds a 300-node lab: not in -short")
	}
	nslabtest.RequireRoot(t)
	rng := killRNG(t, 0)

	name := nslabtest.Name("k")
	dir := t.TempDir()
	// A star without --host puts no address on the host: no subnet to
	// share with other tests.
	gen := starFiles(t, name, dir)
	base, mtu, grow := gen("base.yaml", 300, false), gen("mtu.yaml", 300, true), gen("grow.yaml", 301, false)
	downAtEnd(t, name)

	// How long each run takes uninterrupted: kills are drawn within it.
	must := func(args ...string) time.Duration { return timed(t, args...) }
	// The faster of two builds: a build now and then waits a few seconds
	// for the kernel's linkwatch at its end, and kills drawn within that
	// would mostly come after the work.
	full := must("up", "-q", base)
	tear := must("down", "-q", name)
	full = min(full, must("up", "-q", base))
	toMTU := must("up", "-q", mtu)
	toGrow := must("up", "-q", grow)
	tear = min(tear, must("down", "-q", name))
	t.Logf("uninterrupted: up %v, reconciling up to MTU 1400 %v, to 301 nodes %v, down %v",
		full.Round(time.Millisecond), toMTU.Round(time.Millisecond), toGrow.Round(time.Millisecond), tear.Round(time.Millisecond))

	// One cycle: every kind of kill, each followed by the run that must
	// finish the job.
	type step struct {
		what   string
		run    []string
		within time.Duration
		then   string // the file up must converge to, or "" for down
	}
	cycle := []step{
		{"up", []string{"up", "-q", base}, full, ""},
		{"up", []string{"up", "-q", base}, full, base},
		{"reconciling up (MTU)", []string{"up", "-q", mtu}, toMTU, mtu},
		{"reconciling up (+1 node)", []string{"up", "-q", grow}, toGrow, grow},
		{"down", []string{"down", "-q", name}, tear, ""},
	}
	const kills = 30
	within := map[string]time.Duration{}
	start := time.Now()
	killed := 0
	for i := range kills {
		s := cycle[i%len(cycle)]
		if d, ok := within[s.what]; ok {
			s.within = d
		}
		at := time.Duration(rng.Int64N(int64(s.within)))
		hit, took := killAt(t, at, s.run...)
		if !hit {
			// A run that beat the kill took this long: draw later kills
			// of its kind within that.
			within[s.what] = min(s.within, took)
		}
		left := "the finished run"
		if hit {
			killed++
			left = partial(t, name)
		}
		then := time.Now()
		if s.then == "" {
			if r := nslab(t, "", "down", "-q", name); r.code != 0 {
				t.Fatalf("kill %d: down after killing %s: %s", i, s.what, r.stderr)
			}
			if rest := nslabtest.Leftovers(name); len(rest) > 0 {
				t.Fatalf("kill %d at %v of %s: down left %s", i, at, s.what, strings.Join(rest, "; "))
			}
		} else {
			if r := nslab(t, "", "up", "-q", s.then); r.code != 0 {
				t.Fatalf("kill %d at %v of %s: up: %s", i, at, s.what, r.stderr)
			}
			converged(t, name, s.then)
		}
		t.Logf("kill %2d: %-24s at %6v of %6v: %-28s left %s; then %s in %v", i, s.what, at.Round(time.Millisecond), s.within.Round(time.Millisecond),
			map[bool]string{true: "killed", false: "had finished before the kill"}[hit], left,
			map[bool]string{true: "down", false: "up"}[s.then == ""], time.Since(then).Round(time.Millisecond))
	}
	t.Logf("%d kill points, %d of them before nslab finished, in %v", kills, killed, time.Since(start).Round(time.Millisecond))
	if killed < kills/3 {
		t.Errorf("only %d of %d kills hit a running nslab", killed, kills)
	}
}

// partial describes what of a lab is there after a kill: its namespaces
// and root links, and what is unfinished: the building marker, root links
// of its group without their alias, stale /run/netns entries.
func partial(t *testing.T, name string) string {
	t.Helper()
	c := kernel.NewConn()
	defer c.Close()
	prefix := plan.NetnsName(name, "")
	st, err := kernel.Observe(c, func(ns string) bool { return strings.HasPrefix(ns, prefix) })
	if err != nil {
		t.Fatal(err)
	}
	spaces, links := 0, 0
	for ns := range st.Namespaces {
		if strings.HasPrefix(ns, prefix) && !st.Stale[ns] {
			spaces++
		}
	}
	for _, l := range st.Links {
		if l.Group == plan.Group(name) {
			links++
		}
	}
	out := []string{fmt.Sprintf("%d namespaces, %d links", spaces, links)}
	if _, err := os.Stat(filepath.Join(lab.StateDir, name, "building")); err == nil {
		out = append(out, "building marker")
	}
	unmarked := 0
	for _, l := range st.Links {
		if l.Group == plan.Group(name) && l.Alias == "" {
			unmarked++
		}
	}
	if unmarked > 0 {
		out = append(out, fmt.Sprintf("%d unmarked links", unmarked))
	}
	if n := len(st.Stale); n > 0 {
		out = append(out, fmt.Sprintf("%d stale entries", n))
	}
	return strings.Join(out, ", ")
}

// killAt starts nslab, kills it with SIGKILL after d and reports whether
// the kill ended it, else how long it took; a run that finished first
// must have succeeded.
func killAt(t *testing.T, d time.Duration, args ...string) (bool, time.Duration) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	var errb bytes.Buffer
	cmd.Stderr = &errb
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	type exit struct {
		err  error
		took time.Duration
	}
	done := make(chan exit, 1)
	go func() {
		err := cmd.Wait()
		done <- exit{err, time.Since(start)}
	}()
	var e exit
	select {
	case e = <-done:
	case <-time.After(d):
		// By PID, as exec.CommandContext does: the child is not reaped
		// before Wait returns, so the PID is still its own.
		cmd.Process.Kill()
		e = <-done
	}
	st := cmd.ProcessState
	if st == nil {
		t.Fatalf("nslab %s: %v", strings.Join(args, " "), e.err)
	}
	if ws, ok := st.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL {
		return true, e.took
	}
	if !st.Success() {
		t.Fatalf("nslab %s failed on its own: %v\n%s", strings.Join(args, " "), st, errb.String())
	}
	return false, e.took
}

// converged checks that the lab is what file describes, as the kernel
// has it: its namespaces and root links, all marked, and nothing else of
// the lab; every interface up with the file's MTU and addresses; no
// unfinished build; and a sample of pairs reach each other.
func converged(t *testing.T, name, file string) {
	t.Helper()
	want, err := topology.Load(file)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(lab.StateDir, name, "building")); err == nil {
		t.Errorf("lab %s: the building marker is still there", name)
	}
	c := kernel.NewConn()
	defer c.Close()
	prefix := plan.NetnsName(name, "")
	st, err := kernel.Observe(c, func(ns string) bool { return strings.HasPrefix(ns, prefix) })
	if err != nil {
		t.Fatal(err)
	}
	nodes := 0
	for ns, mark := range st.Namespaces {
		if !strings.HasPrefix(ns, prefix) {
			continue
		}
		node := strings.TrimPrefix(ns, prefix)
		if want.Node(node) == nil || mark != kernel.Marker(name, kernel.KindNode, node) {
			t.Errorf("namespace %s (mark %q) is not a node of %s", ns, mark, file)
			continue
		}
		nodes++
	}
	if nodes != len(want.Nodes) {
		t.Errorf("%d marked namespaces, want %d", nodes, len(want.Nodes))
	}
	root := map[string]int{plan.BridgeName(name, "br0"): 0} // kernel name: MTU (0: any)
	for _, l := range want.Links {
		root[plan.PortName(name, l.A.Node, l.A.Name)] = mtuOf(l.A)
	}
	for n, l := range st.Links {
		owner, _, _, ok := kernel.ParseMarker(l.Alias)
		if !(ok && owner == name) && l.Group != plan.Group(name) {
			continue
		}
		mtu, mine := root[n]
		switch {
		case !mine || !ok || owner != name || l.Group != plan.Group(name):
			t.Errorf("root link %s (alias %q, group %d) is not one of %s", n, l.Alias, l.Group, file)
		case mtu != 0:
			if b, _ := os.ReadFile("/sys/class/net/" + n + "/mtu"); strings.TrimSpace(string(b)) != fmt.Sprint(mtu) {
				t.Errorf("root link %s: MTU %s, want %d", n, strings.TrimSpace(string(b)), mtu)
			}
		}
		delete(root, n)
	}
	for n := range root {
		t.Errorf("root link %s is missing", n)
	}
	s, err := lab.GetStatus(name)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range s.Nodes {
		for _, i := range n.Interfaces {
			wi := want.Node(n.Name).Interface(i.Name)
			var addrs []string
			for _, a := range wi.Addresses {
				addrs = append(addrs, a.String())
			}
			slices.Sort(addrs)
			slices.Sort(i.Addresses)
			if i.State != "up" || i.MTU != mtuOf(wi) || !slices.Equal(i.Addresses, addrs) {
				t.Errorf("%s %s: %s, MTU %d, %v; want up, MTU %d, %v", n.Netns, i.Name, i.State, i.MTU, i.Addresses, mtuOf(wi), addrs)
			}
		}
	}
	if r := nslab(t, "", "check", "--sample", "20", name); r.code != 0 {
		t.Errorf("check: %s%s", r.stdout, r.stderr)
	}
}

// mtuOf is an interface's MTU: the kernel's default when the file has
// none.
func mtuOf(i *topology.Interface) int {
	if i.MTU == 0 {
		return 1500
	}
	return i.MTU
}

// sandbox is a network namespace and a mount namespace of their own, with
// their own /run and /sys, where nslab down --all can run without
// touching the labs of the machine (tests of other packages build theirs
// in parallel). Everything in it goes when its process ends.
type sandbox struct {
	t   *testing.T
	cmd *exec.Cmd
	pid string
}

func newSandbox(t *testing.T) *sandbox {
	t.Helper()
	return newSandboxWithout(t, "")
}

// newSandboxWithout is newSandbox, with /run/netns missing when what is
// "netns": a fresh machine's /run.
func newSandboxWithout(t *testing.T, what string) *sandbox {
	t.Helper()
	mkdir := "mkdir /run/netns"
	if what == "netns" {
		mkdir = ""
	}
	cmd := exec.Command("unshare", "--net", "--mount", "--propagation", "private", "--", "sh", "-ec", `
mount -t tmpfs nslab-sandbox /run
`+mkdir+`
mount -t sysfs sysfs /sys
ip link set lo up
echo ready
exec sleep 3600`)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var errb bytes.Buffer
	cmd.Stderr = &errb
	if err := cmd.Start(); err != nil {
		t.Skipf("unshare: %v", err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	if line, _ := bufio.NewReader(out).ReadString('\n'); line != "ready\n" {
		t.Fatalf("sandbox: %q %s", line, errb.String())
	}
	sb := &sandbox{t: t, cmd: cmd, pid: fmt.Sprint(cmd.Process.Pid)}
	for _, ns := range []string{"net", "mnt"} {
		mine, _ := os.Readlink("/proc/self/ns/" + ns)
		its, err := os.Readlink("/proc/" + sb.pid + "/ns/" + ns)
		if err != nil || its == mine {
			t.Fatalf("the sandbox has no %s namespace of its own (%v)", ns, err)
		}
	}
	return sb
}

// run runs a command in the sandbox and returns its output and status.
func (sb *sandbox) run(args ...string) (string, error) {
	out, err := exec.Command("nsenter", append([]string{"-t", sb.pid, "-n", "-m", "--"}, args...)...).CombinedOutput()
	return string(out), err
}

// must runs a command in the sandbox; failing fails the test.
func (sb *sandbox) must(args ...string) string {
	sb.t.Helper()
	out, err := sb.run(args...)
	if err != nil {
		sb.t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// TestDownAll builds labs in a sandbox, leaves one as a killed build
// leaves it, adds foreign objects named like nslab's, and checks that
// down --all removes every lab and nothing foreign.
func TestDownAll(t *testing.T) {
	nslabtest.RequireRoot(t)
	sb := newSandbox(t)
	dir := t.TempDir()
	write := func(file, src string) string {
		path := filepath.Join(dir, file)
		if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	star := func(name string, nodes int, host ...string) string {
		r := nslab(t, "", append([]string{"gen", "star", "--nodes", fmt.Sprint(nodes), "--name", name}, host...)...)
		if r.code != 0 {
			t.Fatal(r.stderr)
		}
		return write(name+".yaml", r.stdout)
	}
	sb.must(bin, "up", "-q", star("alpha", 30, "--host"))
	p2p, err := filepath.Abs("../../examples/p2p.yaml")
	if err != nil {
		t.Fatal(err)
	}
	sb.must(bin, "up", "-q", "--lab", "beta", p2p)
	sb.must(bin, "up", "-q", star("gamma", 5))

	// gamma as a kill in the middle of a build leaves it.
	sb.must("ip", "link", "set", "dev", plan.PortName("gamma", "h2", "eth0"), "alias", "")
	sb.must("ip", "link", "set", "dev", plan.BridgeName("gamma", "br0"), "alias", "")
	sb.must("umount", "/run/netns/gamma.h3")
	sb.must("touch", "/run/netns/gamma.h4x", "/run/nslab/gamma/building")
	sb.must("touch", "/run/nslab/.locks/delta") // a lock and nothing else

	// Foreign objects with names, groups and altnames close to nslab's.
	sb.must("ip", "netns", "add", "alpha.h31")
	sb.must("ip", "netns", "add", "gamma.h5x")
	foreignBridge := plan.BridgeName("alpha", "br1")
	sb.must("ip", "link", "add", foreignBridge, "group", fmt.Sprint(plan.Group("alpha")), "type", "bridge")
	sb.must("ip", "link", "set", "dev", foreignBridge, "alias", "nslab-like")
	sb.must("ip", "link", "property", "add", "dev", foreignBridge, "altname", "br1.alpha")
	// The name of gamma's port of h5, without gamma's group.
	foreignVeth := plan.PortName("gamma", "h5", "eth0")
	sb.must("ip", "link", "delete", foreignVeth)
	sb.must("ip", "link", "add", foreignVeth, "type", "veth", "peer", "name", "np-foreign")
	sb.must("ip", "link", "set", "dev", "np-foreign", "group", fmt.Sprint(plan.Group("gamma")))
	t.Cleanup(func() {
		for _, c := range [][]string{{"ip", "netns", "delete", "alpha.h31"}, {"ip", "netns", "delete", "gamma.h5x"},
			{"ip", "link", "delete", foreignBridge}, {"ip", "link", "delete", foreignVeth}} {
			if out, err := sb.run(c...); err != nil {
				t.Errorf("%s: %v\n%s", strings.Join(c, " "), err, out)
			}
		}
	})

	out := sb.must(bin, "down", "--all")
	for _, want := range []string{
		"lab alpha is down: removed 30 namespaces, 31 links, state\n",
		"lab beta is down: removed 3 namespaces, 1 link, state\n",
		"lab delta is down: removed state\n",
		// 4 marked namespaces and 2 stale entries; the bridge and 3
		// ports (h3's went with h3, h5's was replaced by a foreign veth)
		"lab gamma is down: removed 6 namespaces, 4 links, state\n",
		"4 labs down in ",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("down --all does not say %q:\n%s", want, out)
		}
	}
	if got := strings.Fields(sb.must("ls", "-A", "/run/netns")); !slices.Equal(got, []string{"alpha.h31", "gamma.h5x"}) {
		t.Errorf("namespaces left: %v, want the foreign alpha.h31 and gamma.h5x", got)
	}
	var links []string
	for _, line := range strings.Split(strings.TrimSpace(sb.must("ip", "-o", "link", "show")), "\n") {
		links = append(links, strings.TrimSuffix(strings.SplitN(strings.Fields(line)[1], "@", 2)[0], ":"))
	}
	slices.Sort(links)
	if want := []string{foreignBridge, foreignVeth, "lo", "np-foreign"}; !slices.Equal(links, sorted(want)) {
		t.Errorf("links left: %v, want %v", links, sorted(want))
	}
	// Foreign namespaces stay named on the /run/netns mount that nslab
	// made, so its record (and the lock beside it) stays too.
	if out, err := sb.run("find", "/run/nslab", "-type", "f"); err == nil {
		left := strings.Fields(out)
		slices.Sort(left)
		want := []string{"/run/nslab/.locks/.netns-dir", "/run/nslab/.locks/.netns-prep", "/run/nslab/.netns-dir.json"}
		if !slices.Equal(left, want) {
			t.Errorf("state left: %v, want %v", left, want)
		}
	}
	if out := sb.must(bin, "down", "--all"); !strings.HasPrefix(out, "0 labs down") {
		t.Errorf("a second down --all: %s", out)
	}
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

// TestMountTableRestored runs labs on a fresh machine's /run, where
// /run/netns does not exist: up makes it a shared mount point as ip does,
// and the down of the last lab leaves the mount table and /run as they
// were. A /run/netns that ip made stays, with its namespaces.
func TestMountTableRestored(t *testing.T) {
	nslabtest.RequireRoot(t)
	sb := newSandboxWithout(t, "netns")
	seed, err := filepath.Abs("../../examples/seed.yaml")
	if err != nil {
		t.Fatal(err)
	}
	p2p, err := filepath.Abs("../../examples/p2p.yaml")
	if err != nil {
		t.Fatal(err)
	}
	// The sandbox's /run and what is mounted on it (the host's /run, hidden
	// below, changes as other tests run).
	mounts := func() string {
		return sb.must("findmnt", "-R", "-n", "-l", "-o", "TARGET,FSTYPE,PROPAGATION", "/run")
	}
	before, run := mounts(), sb.must("ls", "-A", "/run")
	netnsMounts := func() (n int) {
		return strings.Count(mounts(), "/run/netns")
	}

	sb.must(bin, "up", "-q", seed)
	sb.must(bin, "up", "-q", p2p)
	if n := netnsMounts(); n != 1+2+3 {
		t.Errorf("with two labs up: %d mounts under /run/netns, want 6 (the directory and 5 namespaces)\n%s", n, mounts())
	}
	sb.must(bin, "down", "-q", seed)
	if n := netnsMounts(); n != 1+3 {
		t.Errorf("with p2p up: %d mounts under /run/netns, want 4\n%s", n, mounts())
	}
	sb.must(bin, "down", "-q", p2p)
	if diff := cmp.Diff(before, mounts()); diff != "" {
		t.Errorf("mount table after the last down (-before +after):\n%s", diff)
	}
	if out := sb.must("ls", "-A", "/run"); out != run {
		t.Errorf("/run after the last down: %q, want %q", out, run)
	}

	// A failed up leaves nothing either.
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(bad, []byte("name: bad\nnodes:\n  a:\n    interfaces:\n      eth0: {link: a:eth0}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := sb.run(bin, "up", "-q", bad); err == nil {
		t.Errorf("up of a bad file succeeded:\n%s", out)
	}
	if diff := cmp.Diff(before, mounts()); diff != "" {
		t.Errorf("mount table after a refused up (-before +after):\n%s", diff)
	}

	// ip's /run/netns is ip's: it stays, and so does its namespace.
	sb.must("ip", "netns", "add", "foreign")
	withIP := mounts()
	sb.must(bin, "up", "-q", seed)
	sb.must(bin, "down", "-q", seed)
	if diff := cmp.Diff(withIP, mounts()); diff != "" {
		t.Errorf("mount table after up and down beside ip's namespace (-before +after):\n%s", diff)
	}
	sb.must("ip", "netns", "delete", "foreign")
}

// TestKillDown kills nslab down (SIGKILL) at many points: half at
// random moments, half once some of the lab's /run/netns entries are
// gone, in the stage where down unmounts and removes them. Then up must
// build the lab as the file says (check passes), and down must leave
// nothing. NSLAB_KILL_SEED repeats a run's draw.
func TestKillDown(t *testing.T) {
	if testing.Short() {
		t.Skip("kills nslab down 12 times on a 150-node lab: not in -short")
	}
	nslabtest.RequireRoot(t)
	rng := killRNG(t, 0)

	const nodes = 150
	name := nslabtest.Name("kd")
	r := nslab(t, "", "gen", "star", "--nodes", fmt.Sprint(nodes), "--name", name)
	if r.code != 0 {
		t.Fatalf("gen: %s", r.stderr)
	}
	file := filepath.Join(t.TempDir(), name+".yaml")
	if err := os.WriteFile(file, []byte(r.stdout), 0o644); err != nil {
		t.Fatal(err)
	}
	downAtEnd(t, name)
	must := func(args ...string) {
		t.Helper()
		if r := nslab(t, "", args...); r.code != 0 {
			t.Fatalf("nslab %s: %s", strings.Join(args, " "), r.stderr)
		}
	}
	must("up", "-q", file)
	start := time.Now()
	must("down", "-q", name)
	tear := time.Since(start)
	// entries counts the lab's entries in /run/netns.
	entries := func() int {
		es, _ := os.ReadDir(kernel.NetnsDir)
		n := 0
		for _, e := range es {
			if strings.HasPrefix(e.Name(), name+".") {
				n++
			}
		}
		return n
	}

	const kills = 12
	killed, stale := 0, 0
	must("up", "-q", file)
	for i := range kills {
		var hit bool
		var when string
		if i%2 == 0 {
			at := time.Duration(rng.Int64N(int64(tear)))
			hit, _ = killAt(t, at, "down", "-q", name)
			when = fmt.Sprintf("at %v of %v", at.Round(time.Millisecond), tear.Round(time.Millisecond))
		} else {
			gone := 1 + rng.IntN(nodes-10)
			hit = killWhen(t, func() bool { return entries() <= nodes-gone }, "down", "-q", name)
			when = fmt.Sprintf("once %d entries were gone", gone)
		}
		left := "the finished down"
		if hit {
			killed++
			left = partial(t, name)
			if strings.Contains(left, "stale") {
				stale++
			}
		}
		start := time.Now()
		if r := nslab(t, "", "up", "-q", file); r.code != 0 {
			t.Fatalf("kill %d %s (%s): up: %s", i, when, left, r.stderr)
		}
		converged(t, name, file)
		must("down", "-q", name)
		if rest := nslabtest.Leftovers(name); len(rest) > 0 {
			t.Fatalf("kill %d %s: up then down left %s", i, when, strings.Join(rest, "; "))
		}
		t.Logf("kill %2d %-32s: %-28s left %s; then up, check, down in %v", i, when,
			map[bool]string{true: "killed", false: "had finished before the kill"}[hit], left, time.Since(start).Round(time.Millisecond))
		must("up", "-q", file)
	}
	t.Logf("%d kills of down, %d before it finished, %d of them leaving stale /run/netns entries", kills, killed, stale)
	if killed < kills/2 || stale == 0 {
		t.Errorf("only %d of %d kills hit a running nslab down, %d with stale entries", killed, kills, stale)
	}
}

// killWhen starts nslab and kills it with SIGKILL as soon as cond holds;
// it reports whether the kill ended it. A run that finished first must
// have succeeded.
func killWhen(t *testing.T, cond func() bool, args ...string) bool {
	t.Helper()
	cmd := exec.Command(bin, args...)
	var errb bytes.Buffer
	cmd.Stderr = &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
poll:
	for {
		select {
		case <-done:
			break poll
		default:
		}
		if cond() {
			cmd.Process.Kill() // by PID: not reaped before Wait returns
			<-done
			break
		}
	}
	st := cmd.ProcessState
	if ws, ok := st.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL {
		return true
	}
	if !st.Success() {
		t.Fatalf("nslab %s failed on its own: %v\n%s", strings.Join(args, " "), st, errb.String())
	}
	return false
}

// TestUpAfterDownKilledInState: a down killed while it removed the lab's
// state directory, after the topology, leaves its removing marker alone
// there; up builds the lab, and the next up must find it running, not
// unfinished.
func TestUpAfterDownKilledInState(t *testing.T) {
	file, name := starFile(t, "ks", 2)
	dir := filepath.Join(lab.StateDir, name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "removing"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if r := nslab(t, "", "up", "-q", file); r.code != 0 {
		t.Fatalf("up: %s", r.stderr)
	}
	r := nslab(t, "", "up", file)
	if r.code != 0 || !strings.Contains(r.stderr, "nothing to change") {
		t.Errorf("a second up: exit %d, want 0 and nothing to change:\n%s%s", r.code, r.stdout, r.stderr)
	}
}

// killRNG draws the kill points of a kill test, from a seed of the
// clock or NSLAB_KILL_SEED, which repeats a run's draw.
func killRNG(t *testing.T, stream uint64) *rand.Rand {
	t.Helper()
	seed := time.Now().UnixNano()
	if s := os.Getenv("NSLAB_KILL_SEED"); s != "" {
		var err error
		if seed, err = strconv.ParseInt(s, 10, 64); err != nil {
			t.Fatalf("NSLAB_KILL_SEED: %v", err)
		}
	}
	t.Logf("seed %d (NSLAB_KILL_SEED=%d repeats it)", seed, seed)
	return rand.New(rand.NewPCG(uint64(seed), stream))
}

// starFiles returns a writer of star topologies of lab name into dir:
// file with nodes nodes, every cable at MTU 1400 when mtu. A star
// without --host puts no address on the host: no subnet to share with
// other tests.
func starFiles(t *testing.T, name, dir string) func(file string, nodes int, mtu bool) string {
	return func(file string, nodes int, mtu bool) string {
		t.Helper()
		r := nslab(t, "", "gen", "star", "--nodes", fmt.Sprint(nodes), "--name", name)
		if r.code != 0 {
			t.Fatalf("gen: %s", r.stderr)
		}
		src := r.stdout
		if mtu {
			src = strings.ReplaceAll(src, "eth0: {link: br0,", "eth0: {link: br0, mtu: 1400,")
		}
		path := filepath.Join(dir, file)
		if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
}

// downAtEnd takes lab name down when the test ends and checks that
// nothing of it is left.
//
// The lab is the test process's (nslabtest.Own): these tests run long, and
// a process killed by go test's timeout left a 300-node lab on the
// machine, which the next test process now removes.
func downAtEnd(t *testing.T, name string) {
	nslabtest.Own(t, name)
	t.Cleanup(func() {
		if r := nslab(t, "", "down", "-q", name); r.code != 0 {
			t.Errorf("down: %s", r.stderr)
		}
		nslabtest.CheckLeaks(t, name)
	})
}

// timed runs nslab with args, which must succeed, and says how long it
// took: kills are drawn within that time.
func timed(t *testing.T, args ...string) time.Duration {
	t.Helper()
	start := time.Now()
	if r := nslab(t, "", args...); r.code != 0 {
		t.Fatalf("nslab %s: %s", strings.Join(args, " "), r.stderr)
	}
	return time.Since(start)
}
