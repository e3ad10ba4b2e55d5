package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// shapeRun is one tool's cable shaped to a rate, and the TCP throughput
// measured over it.
type shapeRun struct {
	Tool string
	Rate int       // Mbit/s asked for
	Got  []float64 // Mbit/s measured
	How  string
	Err  string
}

// shapeRates are the rates of the shaping test, in Mbit/s.
var shapeRates = []int{10, 100}

// shapedLab is two nodes on one cable shaped to RATE on a's end.
const shapedLab = `# two nodes on one cable, shaped both ways
name: bench-shape
nodes:
  a:
    interfaces:
      eth0: {link: b:eth0, addresses: [10.203.0.1/30], shape: {rate: %dmbit}}
  b:
    interfaces:
      eth0: {addresses: [10.203.0.2/30]}
`

// shapingTest measures a TCP stream over a cable shaped to each of
// shapeRates: nslab's shape (tbf on both veth ends) against the tc
// command typed by hand. (Mininet's TCLink is not measured: its iperf
// test ends iperf processes by name, killall -9 iperf, and hangs with
// iperf 2.1 waiting for a report of its telnet probe.)
func (b *bench) shapingTest(ctx context.Context) {
	if !b.iperf3 {
		b.res.note("shaping test skipped: iperf3 is not installed (run with -install)")
		return
	}
	for _, rate := range shapeRates {
		if ctx.Err() != nil {
			return
		}
		b.res.shape = append(b.res.shape, b.nslabShaped(ctx, rate))
		if b.cfg.peers["ip"] && ctx.Err() == nil {
			b.res.shape = append(b.res.shape, b.handShaped(ctx, rate))
		}
	}
}

func (b *bench) nslabShaped(ctx context.Context, rate int) *shapeRun {
	const name = "bench-shape"
	run := &shapeRun{Tool: "nslab", Rate: rate, How: fmt.Sprintf("shape: {rate: %dmbit}; iperf3 a -> b, %d × %d s after 1 s", rate, b.cfg.tcpRuns, b.cfg.tcpSecs)}
	path := filepath.Join(b.tmp, name+".yaml")
	if err := os.WriteFile(path, []byte(fmt.Sprintf(shapedLab, rate)), 0o644); err != nil {
		run.Err = err.Error()
		return run
	}
	if left := leftovers(name, false); len(left) > 0 {
		run.Err = fmt.Sprintf("lab %s exists already (%s)", name, left[0])
		return run
	}
	step := b.clean.add("nslab down "+name, func() error {
		_, err := b.run(context.Background(), runOpts{timeout: time.Minute, norecord: true}, b.nslab, "down", "-q", name)
		return err
	})
	defer func() {
		if _, err := b.run(context.Background(), runOpts{timeout: time.Minute}, b.nslab, "down", "-q", name); err == nil {
			b.clean.disarm(step)
		}
	}()
	if _, err := b.run(ctx, runOpts{timeout: time.Minute, stop: stopInterrupt}, b.nslab, "up", "-q", path); err != nil {
		run.Err = "nslab up: " + err.Error()
		return run
	}
	b.measureShaped(ctx, run, name+".b", name+".a", "10.203.0.2")
	return run
}

// measureShaped runs iperf3 from the client namespace to addr in the
// server namespace, tcpRuns times after a second of warm-up each, into
// run.
func (b *bench) measureShaped(ctx context.Context, run *shapeRun, server, client, addr string) {
	stop, err := b.iperfServer(server)
	if err != nil {
		run.Err = err.Error()
		return
	}
	defer stop()
	for i := 0; i < b.cfg.tcpRuns && ctx.Err() == nil; i++ {
		g, err := b.iperfClient(ctx, client, addr, "-O", "1")
		if err != nil {
			run.Err = err.Error()
			return
		}
		run.Got = append(run.Got, g*1000)
		progress("shaping: %s at %d Mbit/s, run %d: %.2f Mbit/s", run.Tool, run.Rate, i+1, g*1000)
	}
}

// handShaped shapes h1's side of two namespaces on a bridge built by
// hand (star-ip.sh up 2) with the tc command people type, tc-tbf(8)
// style, and measures h1 -> h2 as for nslab.
func (b *bench) handShaped(ctx context.Context, rate int) *shapeRun {
	const p = "bshp"
	tc := []string{"ip", "netns", "exec", p + ".h1", "tc", "qdisc", "add", "dev", "eth0", "root", "tbf",
		"rate", strconv.Itoa(rate) + "mbit", "burst", "32kbit", "latency", "50ms"}
	run := &shapeRun{Tool: "by hand", Rate: rate, How: strings.Join(tc[4:], " ") + fmt.Sprintf(" in h1 of star-ip.sh up 2; iperf3 h1 -> h2, %d × %d s after 1 s", b.cfg.tcpRuns, b.cfg.tcpSecs)}
	if linkExists(p + "-br") {
		run.Err = "a link " + p + "-br exists already"
		return run
	}
	step := b.clean.add("star-ip.sh down 2 "+p, func() error {
		_, err := b.run(context.Background(), runOpts{timeout: time.Minute, norecord: true}, "bash", b.script, "down", "2", p)
		return err
	})
	defer func() {
		if _, err := b.run(context.Background(), runOpts{timeout: time.Minute}, "bash", b.script, "down", "2", p); err == nil {
			b.clean.disarm(step)
		}
	}()
	if _, err := b.run(ctx, runOpts{timeout: time.Minute}, "bash", b.script, "up", "2", p); err != nil {
		run.Err = "star-ip.sh up 2: " + err.Error()
		return run
	}
	if _, err := b.run(ctx, runOpts{timeout: time.Minute}, tc...); err != nil {
		run.Err = "tc: " + err.Error()
		return run
	}
	b.measureShaped(ctx, run, p+".h2", p+".h1", "10.201.0.3")
	return run
}

func (b *bench) shapingTable() *table {
	if len(b.res.shape) == 0 {
		return nil
	}
	t := &table{title: "A cable shaped to a rate: TCP throughput over it", head: []string{"tool", "asked", "runs (Mbit/s)", "median", "÷ asked", "how"}}
	for _, r := range b.res.shape {
		var runs []string
		for _, g := range r.Got {
			runs = append(runs, fmt.Sprintf("%.2f", g))
		}
		med, ratio := "–", "–"
		if len(r.Got) > 0 {
			med = fmt.Sprintf("%.2f", medianF(r.Got))
			ratio = fmt.Sprintf("%.3f", medianF(r.Got)/float64(r.Rate))
		}
		if r.Err != "" {
			runs = append(runs, "FAILED: "+r.Err)
		}
		t.add(r.Tool, fmt.Sprintf("%d Mbit/s", r.Rate), strings.Join(runs, ", "), med, ratio, r.How)
	}
	t.notes = append(t.notes, "nslab shapes each veth end with tbf (its bucket: 10 ms of the rate, at least 16 KiB; queue 50 ms); by hand: tbf with tc's usual burst 32kbit. One TCP stream, IPv4, runs of each tool one after the other. iperf3 counts TCP payload, the shaper whole frames: 1448 of 1514 bytes, so 0.956 of the rate is a full link.")
	return t
}
