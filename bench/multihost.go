package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/nslab/nslab/internal/simhost"
)

// Labs across machines (issue 15, item 5), on three simulated hosts
// (internal/simhost: a network and a mount namespace each, with sshd, on
// an underlay bridge): a generated lab of N nodes is brought up and down
// across the three and, in the same run, on this machine alone; the ssh
// sessions each up and down opens are counted (a wrapper ssh first in
// nslab's PATH logs every ssh nslab runs; the hosts' sshd count the
// connections they accept); a TCP stream between nodes on two hosts
// (over VXLAN) is measured against the same stream within one host.

const (
	multihostTitle = "Labs across machines (issue 15): three simulated hosts against one host"
	streamTitle    = "TCP stream across simulated hosts (one stream, simhosts stream in the nodes)"
)

// multihostTitles are the sections of the part, as -only splices them.
var multihostTitles = []string{multihostTitle, streamTitle}

// mhRun is one size: the lab across three hosts and on one.
type mhRun struct {
	N         int
	Nodes     int
	Topo      string
	Placement string // nslab's own summary of where the nodes went
	// Across three simulated hosts, and on this machine alone.
	Up3, Down3, Up1, Down1 time.Duration
	// Sessions: ssh commands nslab ran (not counting ssh -O, which only
	// talks to a shared connection); Conns: connections the hosts' sshd
	// accepted. Per up and per down.
	UpSessions, UpConns, DownSessions, DownConns int
	Check                                        string
	Left                                         []string
	Errs                                         []string
}

// mhStream is one path of the TCP stream test.
type mhStream struct {
	Name string
	Gbps []float64
	Err  string
}

// multihostRun is what the part measured.
type multihostRun struct {
	HostsUp time.Duration // starting the three simulated hosts
	// SSHConn is a fresh ssh connection running true on a host (median
	// of 3): the key exchange and login, CPU-bound.
	SSHConn  time.Duration
	FirstUp  time.Duration // the first up: nslab copied to each host
	Runs     []*mhRun
	Streams  []*mhStream
	Commands []string
	Errs     []string
}

func (m *multihostRun) fail(format string, a ...any) {
	m.Errs = append(m.Errs, fmt.Sprintf(format, a...))
	progress("multihost: "+format, a...)
}

// mhHosts are the simulated hosts' names.
var mhHosts = []string{"m1", "m2", "m3"}

// withHosts puts a hosts: block for the cluster's hosts after the name
// line of a generated lab file.
func withHosts(src string, hosts []hostAddr) (string, error) {
	var block strings.Builder
	block.WriteString("hosts:\n")
	for _, h := range hosts {
		fmt.Fprintf(&block, "  %s: {ssh: %s, address: %s}\n", h.name, h.name, h.addr)
	}
	lines := strings.SplitAfter(src, "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, "name: ") {
			return strings.Join(lines[:i+1], "") + block.String() + strings.Join(lines[i+1:], ""), nil
		}
	}
	return "", fmt.Errorf("no name: line in the generated file")
}

type hostAddr struct {
	name string
	addr netip.Addr
}

// sshWrapper is a shell script standing in for ssh: it logs its
// arguments, one line a run, and runs the real ssh.
func sshWrapper(real, log string) string {
	return fmt.Sprintf("#!/bin/sh\necho \"$*\" >> %s\nexec %s \"$@\"\n", log, real)
}

// countSessions counts the ssh runs of a wrapper's log that open a
// session (not ssh -O, which controls a shared connection).
func countSessions(log string) int {
	n := 0
	for _, l := range strings.Split(log, "\n") {
		if strings.TrimSpace(l) == "" || strings.Contains(" "+l+" ", " -O ") {
			continue
		}
		n++
	}
	return n
}

// freeUnderlay finds a /24 under 10.232.0.0/16 that no interface of this
// machine has an address in.
func freeUnderlay() (netip.Prefix, error) {
	addrs, _ := net.InterfaceAddrs()
	for x := 0; x < 256; x++ {
		p := netip.MustParsePrefix(fmt.Sprintf("10.232.%d.0/24", x))
		used := false
		for _, a := range addrs {
			if ip, _, err := net.ParseCIDR(a.String()); err == nil {
				if ad, ok := netip.AddrFromSlice(ip); ok && p.Contains(ad.Unmap()) {
					used = true
				}
			}
		}
		if !used {
			return p, nil
		}
	}
	return netip.Prefix{}, fmt.Errorf("no free /24 under 10.232.0.0/16 for the underlay")
}

func (b *bench) multihostTest(ctx context.Context) {
	run := &multihostRun{}
	b.res.multihost = run
	if err := simhost.Available(); err != nil {
		run.fail("not run: %v", err)
		return
	}
	real, err := exec.LookPath("ssh")
	if err != nil {
		run.fail("not run: %v", err)
		return
	}
	tool := filepath.Join(b.tmp, "simhosts")
	if _, err := b.run(ctx, runOpts{timeout: 5 * time.Minute}, "go", "build", "-o", tool, "./internal/simhost/cmd/simhosts"); err != nil {
		run.fail("building simhosts: %v", err)
		return
	}
	wrapDir := filepath.Join(b.tmp, "sshwrap")
	sshLog := filepath.Join(b.tmp, "ssh.log")
	if err := os.MkdirAll(wrapDir, 0o755); err == nil {
		err = os.WriteFile(filepath.Join(wrapDir, "ssh"), []byte(sshWrapper(real, sshLog)), 0o755)
	}
	if err != nil {
		run.fail("writing the ssh wrapper: %v", err)
		return
	}
	sub, err := freeUnderlay()
	if err != nil {
		run.fail("%v", err)
		return
	}
	progress("multihost: starting 3 simulated hosts (sshd each) on %s", sub)
	began := time.Now()
	c, err := simhost.Start(ctx, filepath.Join(b.tmp, "hosts"), mhHosts, simhost.Options{Prefix: "nbmh", Subnet: sub,
		Logf: func(f string, a ...any) { progress("multihost: "+f, a...) }})
	if err != nil {
		run.fail("starting the simulated hosts: %v", err)
		return
	}
	run.HostsUp = time.Since(began)
	b.recordLine(fmt.Sprintf("# three simulated hosts m1 m2 m3 (internal/simhost, as $TMP/simhosts run -n 3 makes them) on %s; NSLAB_SSH_CONFIG=$TMP/hosts/ssh_config; ssh is a wrapper that logs each run", sub))
	step := b.clean.add("simulated hosts", c.Close)
	defer func() {
		if err := c.Close(); err != nil {
			run.fail("removing the simulated hosts: %v", err)
		} else {
			b.clean.disarm(step)
		}
	}()
	var hosts []hostAddr
	for _, h := range c.Hosts {
		hosts = append(hosts, hostAddr{h.Name, h.Addr})
	}
	env := []string{"NSLAB_SSH_CONFIG=" + c.Config, "PATH=" + wrapDir + ":" + os.Getenv("PATH")}
	logins := func() int {
		n := 0
		for _, h := range c.Hosts {
			n += h.Logins()
		}
		return n
	}
	// sessions runs f and returns the ssh sessions and connections it
	// opened.
	sessions := func(f func()) (int, int) {
		os.Remove(sshLog)
		l0 := logins()
		f()
		data, _ := os.ReadFile(sshLog)
		return countSessions(string(data)), logins() - l0
	}
	onHosts := func(line string) string {
		var out strings.Builder
		for _, h := range c.Hosts {
			o, err := c.Command(ctx, h.Name, line).CombinedOutput()
			if s := strings.TrimSpace(string(o)); s != "" || err != nil {
				fmt.Fprintf(&out, "%s: %s %v; ", h.Name, s, errOrNil(err))
			}
		}
		return strings.TrimSuffix(out.String(), "; ")
	}
	leftOnHosts := func() string {
		return onHosts("ip netns list; ip -o link show type vxlan; ip -o link show type bridge; ls /run/nslab 2>/dev/null | grep -v '^[.]'; true")
	}

	var conns []time.Duration
	for range 3 {
		t0 := time.Now()
		if err := c.Command(ctx, "m1", "true").Run(); err == nil {
			conns = append(conns, time.Since(t0))
		}
	}
	run.SSHConn = median(conns)
	progress("multihost: a fresh ssh connection to a host runs true in %s", secs(run.SSHConn))
	// The stream first: on a quiet lab, and its up copies nslab to each
	// host (timed apart: the sizes below find it there).
	b.multihostStream(ctx, run, tool, hosts, env, &run.FirstUp)
	if l := leftOnHosts(); l != "" {
		run.fail("left on the hosts after the stream test: %s", l)
	}
	for _, n := range b.cfg.multihost {
		if ctx.Err() != nil {
			return
		}
		r := &mhRun{N: n}
		run.Runs = append(run.Runs, r)
		b.multihostSize(ctx, r, hosts, env, sessions, leftOnHosts)
	}
}

func errOrNil(err error) string {
	if err == nil {
		return ""
	}
	return "(" + err.Error() + ")"
}

// leafSpine is the generator's form for about n nodes: 2 spines, L
// leaves of H hosts (2 + L + L×H nodes).
func leafSpine(n int) (leaves, hpl int) {
	leaves = max(3, (n+50)/100)
	hpl = max(1, (n-2-leaves)/leaves)
	return leaves, hpl
}

// multihostSize brings a generated lab of about r.N nodes up and down on
// this machine, then across the three hosts (counting ssh sessions),
// with a sampled check across hosts in between.
func (b *bench) multihostSize(ctx context.Context, r *mhRun, hosts []hostAddr, env []string,
	sessions func(func()) (int, int), leftOnHosts func() string) {
	leaves, hpl := leafSpine(r.N)
	one := fmt.Sprintf("bench-mh1-%d", r.N)
	across := fmt.Sprintf("bench-mh3-%d", r.N)
	r.Topo = fmt.Sprintf("leaf-spine: 2 spines, %d leaves × %d hosts, dual-stack", leaves, hpl)
	gen := []string{"leaf-spine", "--spines", "2", "--leaves", strconv.Itoa(leaves), "--hosts-per-leaf", strconv.Itoa(hpl)}
	path1, _, err := b.generate(ctx, one, [][]string{append(gen, "--name", one)}, func() string { return "" })
	if err == nil {
		var lf *labFile
		if lf, err = readLabFile(path1); err == nil {
			r.Nodes = len(lf.Nodes)
		}
	}
	if err != nil {
		r.Errs = append(r.Errs, "nslab gen: "+err.Error())
		return
	}
	src, _ := os.ReadFile(path1)
	src3, err := withHosts(strings.Replace(string(src), "name: "+one+"\n", "name: "+across+"\n", 1), hosts)
	path3 := filepath.Join(b.tmp, across+".yaml")
	if err == nil {
		err = os.WriteFile(path3, []byte(src3), 0o644)
	}
	if err != nil {
		r.Errs = append(r.Errs, err.Error())
		return
	}
	if out, err := b.run(ctx, runOpts{timeout: time.Minute}, b.nslab, "validate", path3); err == nil {
		if _, rest, ok := strings.Cut(out.Out, "\n"); ok {
			r.Placement = placementLine(rest)
		}
	}
	timeout := 15 * time.Minute

	// On this machine alone.
	progress("multihost N=%d: up and down on this machine (%d nodes)", r.N, r.Nodes)
	step := b.clean.add("nslab down "+one, func() error {
		_, err := b.run(context.Background(), runOpts{timeout: timeout, norecord: true}, b.nslab, "down", "-q", one)
		return err
	})
	b.settle(ctx)
	up, err := b.run(ctx, runOpts{timeout: timeout, stop: stopInterrupt, grace: 2 * time.Minute}, b.nslab, "up", "-q", path1)
	if err != nil {
		r.Errs = append(r.Errs, "up on one host: "+err.Error())
		return
	}
	r.Up1 = up.Wall
	down, err := b.run(ctx, runOpts{timeout: timeout, grace: 2 * time.Minute}, b.nslab, "down", "-q", one)
	if err != nil {
		r.Errs = append(r.Errs, "down on one host: "+err.Error())
		return
	}
	b.clean.disarm(step)
	r.Down1 = down.Wall
	if left, _ := settledLeftovers(one, false, 10*time.Second); len(left) > 0 {
		r.Left = append(r.Left, summarize(left, 3)...)
	}
	progress("multihost N=%d: one host: up %s, down %s", r.N, secs(r.Up1), secs(r.Down1))

	// Across the three simulated hosts.
	step = b.clean.add("nslab down "+across, func() error {
		_, err := b.run(context.Background(), runOpts{timeout: timeout, env: env, norecord: true}, b.nslab, "down", "-q", across)
		return err
	})
	b.settle(ctx)
	r.UpSessions, r.UpConns = sessions(func() {
		up, err = b.run(ctx, runOpts{timeout: timeout, stop: stopInterrupt, grace: 2 * time.Minute, env: env}, b.nslab, "up", "-q", path3)
	})
	if err != nil {
		r.Errs = append(r.Errs, "up across hosts: "+err.Error())
		return
	}
	r.Up3 = up.Wall
	progress("multihost N=%d: three hosts: up %s, %d ssh sessions, %d connections", r.N, secs(r.Up3), r.UpSessions, r.UpConns)
	sample := min(30, r.Nodes)
	chk, err := b.run(ctx, runOpts{timeout: timeout, stop: stopInterrupt, env: env}, b.nslab, "check", "--sample", strconv.Itoa(sample), across)
	if err != nil {
		r.Check = fmt.Sprintf("nslab check --sample %d across hosts: %s", sample, chk.tail())
	} else {
		r.Check = fmt.Sprintf("nslab check --sample %d across hosts: %s", sample, lastLine(chk.Out))
	}
	r.DownSessions, r.DownConns = sessions(func() {
		down, err = b.run(ctx, runOpts{timeout: timeout, grace: 2 * time.Minute, env: env}, b.nslab, "down", "-q", across)
	})
	if err != nil {
		r.Errs = append(r.Errs, "down across hosts: "+err.Error())
		return
	}
	b.clean.disarm(step)
	r.Down3 = down.Wall
	if l := leftOnHosts(); l != "" {
		r.Left = append(r.Left, "on the hosts: "+l)
	}
	progress("multihost N=%d: three hosts: down %s, %d ssh sessions, %d connections%s", r.N, secs(r.Down3), r.DownSessions, r.DownConns, leftNote(r.Left))
}

// placementLine sums up nslab validate's placement lines: "m1 1001,
// m2 1000, m3 1001 nodes; 31 segments between hosts".
func placementLine(out string) string {
	var parts []string
	segs := ""
	for _, l := range strings.Split(out, "\n") {
		l = strings.TrimSpace(l)
		if h, rest, ok := strings.Cut(l, " ("); ok && strings.HasPrefix(h, "host ") {
			if _, count, ok := strings.Cut(rest, "): "); ok {
				count, _, _ = strings.Cut(count, " node")
				parts = append(parts, strings.TrimPrefix(h, "host ")+" "+count)
			}
		}
		if strings.HasSuffix(l, "between hosts (VXLAN)") {
			segs = strings.TrimSuffix(l, " (VXLAN)")
		}
	}
	s := strings.Join(parts, ", ") + " nodes"
	if segs != "" {
		s += "; " + segs
	}
	return s
}

// The stream lab: a bridge on two hosts, s1 and s2 on m1, s3 on m2, all
// on the bridge (MTU 1450 on a segment between hosts).
func streamLab(name string, hosts []hostAddr) string {
	var b strings.Builder
	fmt.Fprintf(&b, "name: %s\n", name)
	if hosts != nil {
		b.WriteString("hosts:\n")
		for _, h := range hosts {
			fmt.Fprintf(&b, "  %s: {ssh: %s, address: %s}\n", h.name, h.name, h.addr)
		}
	}
	b.WriteString("bridges:\n  lan: {}\nnodes:\n")
	for i, h := range []string{"m1", "m1", "m2"} {
		place := ""
		if hosts != nil {
			place = "host: " + h + ", "
		}
		fmt.Fprintf(&b, "  s%d: {%sinterfaces: {eth0: {link: lan, addresses: [10.60.0.%d/24]}}}\n", i+1, place, i+1)
	}
	return b.String()
}

// multihostStream measures one TCP stream (simhosts stream: Go in the
// nodes, run with nslab exec) s3 -> s1 across two simulated hosts and
// s2 -> s1 within one, alternating; then s3 -> s1 of the same lab on
// this machine alone. The first up's time (it copies nslab to each host)
// goes to *firstUp.
func (b *bench) multihostStream(ctx context.Context, run *multihostRun, tool string, hosts []hostAddr, env []string, firstUp *time.Duration) {
	across, one := "bench-mhs3", "bench-mhs1"
	paths := []*mhStream{
		{Name: "across two simulated hosts: s3 (m2) -> s1 (m1), VXLAN, MTU 1450"},
		{Name: "within one simulated host: s2 -> s1 (m1), the same bridge, MTU 1450"},
		{Name: "the same lab on this machine alone: s3 -> s1, MTU 1500"},
	}
	run.Streams = paths
	p3 := filepath.Join(b.tmp, across+".yaml")
	p1 := filepath.Join(b.tmp, one+".yaml")
	os.WriteFile(p3, []byte(streamLab(across, hosts)), 0o644)
	os.WriteFile(p1, []byte(streamLab(one, nil)), 0o644)
	measure := func(lab, from string, p *mhStream, env []string) {
		if p.Err != "" {
			return
		}
		g, err := b.streamOnce(ctx, tool, lab, from, "s1", "10.60.0.1", env)
		if err != nil {
			p.Err = err.Error()
			return
		}
		p.Gbps = append(p.Gbps, g)
		progress("multihost: stream %s: %.2f Gbit/s", p.Name, g)
	}

	step := b.clean.add("nslab down "+across, func() error {
		_, err := b.run(context.Background(), runOpts{timeout: 5 * time.Minute, env: env, norecord: true}, b.nslab, "down", "-q", across)
		return err
	})
	up, err := b.run(ctx, runOpts{timeout: 10 * time.Minute, stop: stopInterrupt, grace: time.Minute, env: env}, b.nslab, "up", "-q", p3)
	*firstUp = up.Wall
	if err != nil {
		paths[0].Err, paths[1].Err = "up: "+err.Error(), "up: "+err.Error()
	}
	progress("multihost: first up across the hosts (nslab copied to each) in %s", secs(up.Wall))
	for i := 0; i < b.cfg.tcpRuns && err == nil && ctx.Err() == nil; i++ {
		measure(across, "s3", paths[0], env)
		measure(across, "s2", paths[1], env)
	}
	if _, err := b.run(context.Background(), runOpts{timeout: 5 * time.Minute, env: env}, b.nslab, "down", "-q", across); err != nil {
		run.fail("down of the stream lab across hosts: %v", err)
	} else {
		b.clean.disarm(step)
	}

	step = b.clean.add("nslab down "+one, func() error {
		_, err := b.run(context.Background(), runOpts{timeout: 5 * time.Minute, norecord: true}, b.nslab, "down", "-q", one)
		return err
	})
	if _, err := b.run(ctx, runOpts{timeout: 5 * time.Minute, stop: stopInterrupt}, b.nslab, "up", "-q", p1); err != nil {
		paths[2].Err = "up: " + err.Error()
	}
	for i := 0; i < b.cfg.tcpRuns && paths[2].Err == "" && ctx.Err() == nil; i++ {
		measure(one, "s3", paths[2], nil)
	}
	if _, err := b.run(context.Background(), runOpts{timeout: 5 * time.Minute}, b.nslab, "down", "-q", one); err != nil {
		run.fail("down of the stream lab on this machine: %v", err)
	} else {
		b.clean.disarm(step)
	}
}

// streamOnce runs a receiver in node to of lab and a sender of
// tcpSecs in node from, and returns the rate the receiver saw.
func (b *bench) streamOnce(ctx context.Context, tool, lab, from, to, addr string, env []string) (float64, error) {
	recvArgv := []string{b.nslab, "exec", lab + "." + to, "--", tool, "stream", "-listen", ":5201", "-json"}
	b.record(recvArgv, nil)
	recv := exec.CommandContext(ctx, recvArgv[0], recvArgv[1:]...)
	recv.Env = append(os.Environ(), env...)
	recv.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out, err := recv.StdoutPipe()
	if err != nil {
		return 0, err
	}
	if err := recv.Start(); err != nil {
		return 0, err
	}
	pid := recv.Process.Pid
	step := b.clean.add(fmt.Sprintf("stream receiver (PID %d)", pid), func() error {
		syscall.Kill(-pid, syscall.SIGKILL)
		return nil
	})
	got := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		line := ""
		for sc.Scan() {
			line = sc.Text()
		}
		got <- line
	}()
	send, serr := b.run(ctx, runOpts{timeout: time.Duration(b.cfg.tcpSecs)*time.Second + 2*time.Minute, env: env},
		b.nslab, "exec", lab+"."+from, "--", tool, "stream", "-to", addr+":5201", "-t", strconv.Itoa(b.cfg.tcpSecs)+"s", "-json")
	var line string
	select {
	case line = <-got:
	case <-time.After(30 * time.Second):
	}
	syscall.Kill(-pid, syscall.SIGKILL)
	recv.Wait()
	b.clean.disarm(step)
	if serr != nil {
		return 0, serr
	}
	var r struct {
		Gbps float64 `json:"gbit_per_s"`
	}
	if err := json.Unmarshal([]byte(strings.TrimSpace(send.Out)), &r); err != nil || r.Gbps == 0 {
		return 0, fmt.Errorf("stream: %q (receiver: %q): %v", send.Out, line, err)
	}
	return r.Gbps, nil
}

func (b *bench) multihostTables() []*table {
	m := b.res.multihost
	if m == nil {
		return nil
	}
	t := &table{title: multihostTitle, head: []string{"N", "nodes", "topology", "placement", "up: 3 hosts", "up: 1 host", "÷",
		"down: 3 hosts", "down: 1 host", "÷", "ssh sessions (connections) per up", "per down", "result"}}
	for _, r := range m.Runs {
		res := "ok"
		switch {
		case len(r.Errs) > 0:
			res = "FAILED: " + strings.Join(r.Errs, "; ")
		case len(r.Left) > 0:
			res = "LEFT: " + strings.Join(r.Left, ", ")
		}
		t.add(strconv.Itoa(r.N), strconv.Itoa(r.Nodes), r.Topo, r.Placement, secs(r.Up3), secs(r.Up1), fratio(r.Up3, r.Up1),
			secs(r.Down3), secs(r.Down1), fratio(r.Down3, r.Down1),
			fmt.Sprintf("%d (%d)", r.UpSessions, r.UpConns), fmt.Sprintf("%d (%d)", r.DownSessions, r.DownConns), res)
	}
	t.notes = append(t.notes,
		fmt.Sprintf("Three simulated hosts (internal/simhost: a network and a mount namespace each, Debian's sshd, on an underlay bridge) started in %s; the first up across them, which copied nslab to each host, took %s (the stream lab below); the sizes then found it there.", secs(m.HostsUp), secs(m.FirstUp)),
		"The simulated hosts share this machine's kernel and 2 CPUs: a lab across them is built by three nslab at once on the same CPUs, so the ratio is what the coordination costs here (preflight on every host, then the shares; ssh), not what three machines would give.",
		fmt.Sprintf("ssh sessions: the runs of ssh by nslab (a wrapper first in its PATH logs them; ssh -O to end a shared connection not counted); connections: the logins the hosts' sshd accepted. nslab keeps one connection per host for a command (ControlMaster), so both stay the same whatever N: up makes four rounds on every host at once (is nslab there; the underlay's MTU; preflight; build), down one. A fresh ssh connection running true on a host took %s here (median of 3; the key exchange is CPU-bound): up opens one per host, then runs three more sessions over it.", secs(m.SSHConn)),
		"Each timed command starts after a 2 s pause. Checks are not timed: "+checkList(m.Runs)+".")
	for _, r := range m.Runs {
		if r.Up3 > 0 && r.Up1 > 0 && r.Up3 < r.Up1 {
			t.notes = append(t.notes, fmt.Sprintf("N=%d: up across the hosts took less than on one host: likely because each host's share is a third of the lab in a network namespace of its own (its bridges, veth ends and VXLAN devices are not in one namespace with all the others', whose lists grow with the lab) and three nslab build at once on the two CPUs.", r.N))
		}
	}
	for _, e := range m.Errs {
		t.notes = append(t.notes, "Failed: "+e)
	}
	s := &table{title: streamTitle, head: []string{"path", "runs (Gbit/s)", "median", "÷ within one simulated host"}}
	var within float64
	if len(m.Streams) > 1 && len(m.Streams[1].Gbps) > 0 {
		within = medianF(m.Streams[1].Gbps)
	}
	for _, p := range m.Streams {
		if p.Err != "" {
			s.add(p.Name, "FAILED: "+p.Err, "–", "–")
			continue
		}
		var runs []string
		for _, g := range p.Gbps {
			runs = append(runs, fmt.Sprintf("%.2f", g))
		}
		med := medianF(p.Gbps)
		r := "–"
		if within > 0 && med > 0 {
			r = fmt.Sprintf("%.2f", med/within)
		}
		s.add(p.Name, strings.Join(runs, ", "), fmt.Sprintf("%.2f Gbit/s", med), r)
	}
	s.notes = append(s.notes, fmt.Sprintf("`nslab exec LAB.s1 -- simhosts stream -listen :5201` and `nslab exec LAB.sN -- simhosts stream -to 10.60.0.1:5201 -t %ds` (Go in the nodes: one TCP connection, 256 KiB writes, the rate the receiver saw from its first byte to its last), across and within alternating, %d runs each; from this machine over ssh for the lab across hosts. Simulated hosts share one kernel: the VXLAN's cost is CPU (encapsulation, a second bridge and veth hop each way), not a wire.", b.cfg.tcpSecs, b.cfg.tcpRuns))
	return []*table{t, s}
}

func fratio(a, b time.Duration) string {
	if a == 0 || b == 0 {
		return "–"
	}
	return fmt.Sprintf("×%.2f", float64(a)/float64(b))
}

func checkList(runs []*mhRun) string {
	var out []string
	for _, r := range runs {
		if r.Check != "" {
			out = append(out, fmt.Sprintf("N=%d %s", r.N, r.Check))
		}
	}
	if len(out) == 0 {
		return "none"
	}
	return strings.Join(out, "; ")
}

// renderMultihostOnly reports a run of this part alone (-only
// multihost), to be spliced into the full report.
func (b *bench) renderMultihostOnly() rendered {
	ts := b.multihostTables()
	if ts == nil {
		ts = []*table{{title: multihostTitle, head: []string{"measure"}}}
	}
	m := b.machine
	m.LoadEnd, m.OthersEnd = loadAvg(), otherNetns()
	last := ts[len(ts)-1]
	last.notes = append(last.notes,
		fmt.Sprintf("Measured on %s with `%s` (this section alone; the rest of the file is from the full run): %s, nslab `%s`; load average %s → %s; other network namespaces on the machine %d → %d.",
			m.Date, strings.Join(append([]string{`sudo env "PATH=$PATH" go run ./bench`}, b.cfg.args...), " "), m.short(), m.Commit, m.LoadStart, m.LoadEnd, m.OthersStart, m.OthersEnd),
		"Commands run: `"+strings.Join(b.commands, "`; `")+"`.")
	for _, n := range b.res.notes {
		last.notes = append(last.notes, "Note: "+n)
	}
	var text, md strings.Builder
	for _, t := range ts {
		text.WriteString(t.text())
		md.WriteString(t.markdown())
	}
	return rendered{text: text.String(), markdown: md.String()}
}
