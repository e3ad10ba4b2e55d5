package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"syscall"
	"time"
)

// seedLab is examples/seed.yaml on lab-only subnets of the bench: two
// nodes on a bridge whose host side has an address.
const seedLab = `# examples/seed.yaml under the bench's lab name and subnet
name: bench-seed
bridges:
  br-ns: {addresses: [10.202.0.1/24]}
nodes:
  ns1:
    interfaces:
      eth0: {link: br-ns, addresses: [10.202.0.2/24]}
  ns2:
    interfaces:
      eth0: {link: br-ns, addresses: [10.202.0.3/24]}
`

// seedTests brings up the seed-like lab once for the exec and the TCP
// tests, and removes it.
func (b *bench) seedTests(ctx context.Context) {
	const name = "bench-seed"
	path := filepath.Join(b.tmp, name+".yaml")
	if err := os.WriteFile(path, []byte(seedLab), 0o644); err != nil {
		b.res.note("exec and TCP tests not run: %v", err)
		return
	}
	if left := leftovers(name, false); len(left) > 0 {
		b.res.note("exec and TCP tests not run: lab %s exists already (%s)", name, left[0])
		return
	}
	step := b.clean.add("nslab down "+name, func() error {
		_, err := b.run(context.Background(), runOpts{timeout: time.Minute, norecord: true}, b.nslab, "down", "-q", name)
		return err
	})
	progress("seed lab: nslab up %s", name)
	if _, err := b.run(ctx, runOpts{timeout: time.Minute, stop: stopInterrupt}, b.nslab, "up", "-q", path); err != nil {
		b.res.note("exec and TCP tests not run: nslab up of the seed-like lab failed: %v", err)
		return
	}
	b.execTest(ctx, name+".ns1")
	if ctx.Err() == nil {
		b.tcpTest(ctx, name)
	}
	if _, err := b.run(ctx, runOpts{timeout: time.Minute}, b.nslab, "down", "-q", name); err == nil {
		b.clean.disarm(step)
	}
}

// execSeries is one command of the exec test with its run times.
type execSeries struct {
	Name  string
	Argv  []string
	Times []time.Duration
	Err   string
}

// execTest runs `nslab exec NODE -- true`, nsenter and ip netns exec
// (and /bin/true on the host, as the floor) round-robin, execRuns times
// each after a few warm-up runs.
func (b *bench) execTest(ctx context.Context, ns string) {
	truePath, err := exec.LookPath("true")
	if err != nil {
		truePath = "/bin/true"
	}
	series := []*execSeries{
		{Name: "nslab exec NODE -- true", Argv: []string{b.nslab, "exec", ns, "--", "true"}},
		{Name: "nsenter --net=/run/netns/X true", Argv: []string{"nsenter", "--net=/run/netns/" + ns, "true"}},
		{Name: "ip netns exec X true", Argv: []string{"ip", "netns", "exec", ns, "true"}},
		{Name: "true (host, no namespace: the floor)", Argv: []string{truePath}},
	}
	for _, s := range series {
		b.recordLine(b.shellLine(s.Argv) + fmt.Sprintf("     # %d times, round-robin with the others", b.cfg.execRuns))
	}
	progress("exec test: %d runs of each of %d commands", b.cfg.execRuns, len(series))
	const warmup = 5
	for i := 0; i < warmup+b.cfg.execRuns && ctx.Err() == nil; i++ {
		for _, s := range series {
			if s.Err != "" {
				continue
			}
			cmd := exec.Command(s.Argv[0], s.Argv[1:]...)
			start := time.Now()
			out, err := cmd.CombinedOutput()
			d := time.Since(start)
			if err != nil {
				s.Err = fmt.Sprintf("%v: %s", err, firstLine(string(out)))
				continue
			}
			if i >= warmup {
				s.Times = append(s.Times, d)
			}
		}
	}
	b.res.exec = series
	for _, s := range series {
		if s.Err != "" {
			progress("exec test: %s failed: %s", s.Name, s.Err)
			continue
		}
		progress("exec test: %-38s median %s, p90 %s", s.Name, ms(median(s.Times)), ms(percentile(s.Times, 90)))
	}
}

func median(d []time.Duration) time.Duration { return percentile(d, 50) }

// percentile is the nearest-rank percentile of d.
func percentile(d []time.Duration, p int) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := append([]time.Duration{}, d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	rank := (p*len(s) + 99) / 100
	return s[max(rank, 1)-1]
}

// tcpPath is one path of the TCP test and its throughputs.
type tcpPath struct {
	Name string
	Gbps []float64
	Err  string
}

// tcpTest measures one iperf3 TCP stream from node 2 to node 1 of the
// seed-like nslab lab and of the same two nodes on a bridge built by
// hand with star-ip.sh, alternating, tcpRuns times each.
func (b *bench) tcpTest(ctx context.Context, lab string) {
	if !b.iperf3 {
		b.res.note("TCP test skipped: iperf3 is not installed (run with -install, or apt-get install iperf3)")
		return
	}
	if linkExists("btcp-br") {
		b.res.note("TCP test skipped: a link btcp-br exists already")
		return
	}
	step := b.clean.add("star-ip.sh down 2 btcp", func() error {
		_, err := b.run(context.Background(), runOpts{timeout: time.Minute, norecord: true}, "bash", b.script, "down", "2", "btcp")
		return err
	})
	defer func() {
		if _, err := b.run(context.Background(), runOpts{timeout: time.Minute}, "bash", b.script, "down", "2", "btcp"); err == nil {
			b.clean.disarm(step)
		}
	}()
	if _, err := b.run(ctx, runOpts{timeout: time.Minute}, "bash", b.script, "up", "2", "btcp"); err != nil {
		b.res.note("TCP test not run: building the path by hand failed: %v", err)
		return
	}
	paths := []*tcpPath{{Name: "nslab (seed-like lab)"}, {Name: "by hand (star-ip.sh up 2)"}}
	type ends struct{ server, client, addr string }
	e := []ends{{lab + ".ns1", lab + ".ns2", "10.202.0.2"}, {"btcp.h1", "btcp.h2", "10.201.0.2"}}
	for i, p := range paths {
		stop, err := b.iperfServer(e[i].server)
		if err != nil {
			p.Err = err.Error()
			continue
		}
		defer stop()
	}
	progress("TCP test: %d × %d s of iperf3 per path", b.cfg.tcpRuns, b.cfg.tcpSecs)
	for run := 0; run < b.cfg.tcpRuns && ctx.Err() == nil; run++ {
		for i, p := range paths {
			if p.Err != "" {
				continue
			}
			g, err := b.iperfClient(ctx, e[i].client, e[i].addr)
			if err != nil {
				p.Err = err.Error()
				continue
			}
			p.Gbps = append(p.Gbps, g)
			progress("TCP test: %s run %d: %.2f Gbit/s", p.Name, run+1, g)
		}
	}
	b.res.tcp = paths
}

// iperfServer starts iperf3 -s in a node and returns how to stop it: by
// its PID (ip netns exec execs iperf3 in place).
func (b *bench) iperfServer(ns string) (func(), error) {
	argv := []string{"ip", "netns", "exec", ns, "iperf3", "-s"}
	b.record(argv, nil)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	pid := cmd.Process.Pid
	step := b.clean.add(fmt.Sprintf("kill iperf3 server (PID %d)", pid), func() error {
		syscall.Kill(pid, syscall.SIGTERM)
		cmd.Wait()
		return nil
	})
	return func() {
		syscall.Kill(pid, syscall.SIGTERM)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			syscall.Kill(pid, syscall.SIGKILL)
			<-done
		}
		b.clean.disarm(step)
	}, nil
}

// iperfClient runs one iperf3 client and returns the received rate in
// Gbit/s; extra are more iperf3 flags. The server may still be starting:
// a refused connection is retried.
func (b *bench) iperfClient(ctx context.Context, ns, addr string, extra ...string) (float64, error) {
	argv := append([]string{"ip", "netns", "exec", ns, "iperf3", "-c", addr, "-t", strconv.Itoa(b.cfg.tcpSecs), "-J"}, extra...)
	var lastErr error
	for try := 0; try < 20 && ctx.Err() == nil; try++ {
		r, err := b.run(ctx, runOpts{timeout: time.Duration(b.cfg.tcpSecs)*time.Second + 30*time.Second}, argv...)
		var rep struct {
			End struct {
				SumReceived struct {
					BitsPerSecond float64 `json:"bits_per_second"`
				} `json:"sum_received"`
			} `json:"end"`
			Error string `json:"error"`
		}
		jerr := json.Unmarshal([]byte(r.Out), &rep)
		switch {
		case rep.Error != "":
			lastErr = fmt.Errorf("iperf3: %s", rep.Error)
		case err != nil:
			lastErr = err
		case jerr != nil:
			return 0, fmt.Errorf("iperf3 output: %w", jerr)
		default:
			return rep.End.SumReceived.BitsPerSecond / 1e9, nil
		}
		// The server may not listen yet: try again.
		time.Sleep(150 * time.Millisecond)
	}
	return 0, fmt.Errorf("iperf3 -c %s: %v", addr, lastErr)
}
