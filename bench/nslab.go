package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// buildNslab builds the CLI under test, as a user would.
func (b *bench) buildNslab(ctx context.Context) error {
	bin := filepath.Join(b.tmp, "nslab")
	progress("building nslab: go build -o %s ./cmd/nslab", bin)
	b.recordLine("go build -o $NSLAB ./cmd/nslab     # $NSLAB is in a fresh temporary directory $TMP")
	if _, err := b.run(ctx, runOpts{timeout: 5 * time.Minute, norecord: true}, "go", "build", "-o", bin, "./cmd/nslab"); err != nil {
		return err
	}
	b.nslab = bin
	return nil
}

// generate writes the topology of lab name to a file: each `nslab gen`
// form in turn, else the bench's fallback generator. It returns the file
// and how it was made.
func (b *bench) generate(ctx context.Context, name string, forms [][]string, fallback func() string) (path, how string, err error) {
	path = filepath.Join(b.tmp, name+".yaml")
	for _, form := range forms {
		f, err := os.Create(path)
		if err != nil {
			return "", "", err
		}
		argv := append([]string{b.nslab, "gen"}, form...)
		_, rerr := b.run(ctx, runOpts{timeout: 2 * time.Minute, stdout: f}, argv...)
		f.Close()
		if rerr == nil {
			if _, err := readLabFile(path); err == nil {
				return path, "nslab gen " + strings.Join(form, " "), nil
			} else {
				rerr = err
			}
		}
		if ctx.Err() != nil {
			return "", "", ctx.Err()
		}
		b.res.noteOnce("gen", "`nslab gen` failed (%s): the bench used its FALLBACK generator (bench/genfallback.go) where noted", firstLine(errText(rerr)))
	}
	if err := os.WriteFile(path, []byte(fallback()), 0o644); err != nil {
		return "", "", err
	}
	return path, "FALLBACK generator (bench/genfallback.go)", nil
}

// nslabStar builds, probes and removes a dual-stack star of n nodes,
// b.cfg.repeat times; the first build is probed.
func (b *bench) nslabStar(ctx context.Context, n int) *lifecycle {
	name := fmt.Sprintf("bench-star-%d", n)
	lc := &lifecycle{Tool: "nslab", N: n, Topo: fmt.Sprintf("star of %d, dual-stack", n), Split: true}
	path, how, err := b.generate(ctx, name, [][]string{
		{"star", "--nodes", strconv.Itoa(n), "--name", name, "--host"},
		{"star", "--nodes", strconv.Itoa(n), "--name", name},
	}, func() string { return fallbackStar(name, n, false) })
	if err != nil {
		lc.Err = err.Error()
		return lc
	}
	lc.Gen = how
	for rep := 0; rep < b.cfg.repeat && ctx.Err() == nil && lc.Err == ""; rep++ {
		sample := 0
		var whileUp func()
		if rep == 0 {
			sample = min(20, n)
			if len(b.cfg.sizes) > 0 && n == slices.Max(b.cfg.sizes) {
				whileUp = func() { b.reconcile(ctx, name, path, n) }
			}
		}
		b.nslabLifecycle(ctx, lc, name, path, sample, 5*time.Minute, whileUp)
	}
	return lc
}

// settle pauses before a timed build, so that each starts on a machine
// that has finished the kernel's asynchronous work of the previous one
// (namespaces are freed after `ip netns del` returns).
func (b *bench) settle(ctx context.Context) {
	d := 2 * time.Second
	if b.cfg.quick {
		d = 300 * time.Millisecond
	}
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// nslabLifecycle runs up, a sampled reachability check (when sample > 0),
// whileUp (when set: more tests on the running lab) and down of one lab,
// and checks that nothing of it is left. Only up and down are timed; each
// call adds one run to lc.
func (b *bench) nslabLifecycle(ctx context.Context, lc *lifecycle, name, path string, sample int, timeout time.Duration, whileUp func()) {
	lf, err := readLabFile(path)
	if err != nil {
		lc.Err = err.Error()
		return
	}
	lc.Nodes = len(lf.Nodes)
	lc.Shape = lf.describe()
	if left := leftovers(name, false); len(left) > 0 {
		lc.Err = fmt.Sprintf("lab %s exists already (%s): not touched", name, left[0])
		return
	}
	step := b.clean.add("nslab down "+name, func() error {
		_, err := b.run(context.Background(), runOpts{timeout: 5 * time.Minute, grace: time.Minute, norecord: true}, b.nslab, "down", "-q", name)
		return err
	})
	b.settle(ctx)
	run := len(lc.UpRuns) + 1
	progress("%s: nslab up %s (%s), run %d", lc.label(), name, lc.Shape, run)
	drops, fulls := softnetDrops(), neighTableFulls()
	var before uint64
	if lc.Memory {
		before = settledMemAvailable(ctx)
	}
	up, err := b.run(ctx, runOpts{timeout: timeout, stop: stopInterrupt, grace: 2 * time.Minute}, b.nslab, "up", "-q", path)
	lc.RSS = max(lc.RSS, up.MaxRSS)
	if err != nil {
		lc.Up = up.Wall
		lc.Err = "up: " + err.Error()
		return
	}
	lc.UpRuns = append(lc.UpRuns, up.Wall)
	lc.Others = max(lc.Others, up.Others)
	lc.Up = median(lc.UpRuns)
	progress("%s: up in %s, peak RSS %s", lc.label(), secs(up.Wall), mib(up.MaxRSS))
	if lc.Memory && before > 0 {
		if after := settledMemAvailable(ctx); after > 0 && after < before && lc.Nodes > 0 {
			lc.MemPerNode = (before - after) / uint64(lc.Nodes)
			progress("%s: MemAvailable %s before up, %s after: %s a node", lc.label(), mib(int64(before)), mib(int64(after)), kib(lc.MemPerNode))
		}
	}
	if sample > 0 {
		b.sampleCheck(ctx, lc, name, lf, sample)
		if d := softnetDrops() - drops; d > 0 {
			lc.Verify += fmt.Sprintf(" [kernel input-backlog drops during up and check: %d]", d)
		}
		if f := neighTableFulls() - fulls; f > 0 {
			lc.Verify += fmt.Sprintf(" [neighbour table full %d times]", f)
			lc.NeighFull = true
		}
		progress("%s: check: %s", lc.label(), lc.Verify)
	}
	if whileUp != nil && ctx.Err() == nil {
		whileUp()
	}
	if ctx.Err() != nil {
		return
	}
	down, err := b.run(ctx, runOpts{timeout: timeout, grace: 2 * time.Minute}, b.nslab, "down", "-q", name)
	lc.RSS = max(lc.RSS, down.MaxRSS)
	if err != nil {
		lc.Down = down.Wall
		lc.Err = "down: " + err.Error()
		return
	}
	b.clean.disarm(step)
	lc.DownRuns = append(lc.DownRuns, down.Wall)
	lc.Others = max(lc.Others, down.Others)
	lc.Down = median(lc.DownRuns)
	lc.Total = lc.Up + lc.Down
	left, waited := settledLeftovers(name, false, 10*time.Second)
	lc.Left = append(lc.Left, left...)
	lc.Settled = max(lc.Settled, waited)
	lc.Done = true
	progress("%s: down in %s%s", lc.label(), secs(down.Wall), leftNote(lc.Left))
}

func leftNote(left []string) string {
	if len(left) == 0 {
		return ", nothing left"
	}
	return fmt.Sprintf(", LEFT: %s", strings.Join(summarize(left, 5), ", "))
}

// sampleCheck probes a sample of n pairs right after up: with `nslab
// check --sample N` when the nslab under test has it, else with the
// bench's own prober. When probes fail it probes again 5 s later, to tell
// packets lost while the lab settles from pairs that do not connect.
func (b *bench) sampleCheck(ctx context.Context, lc *lifecycle, name string, lf *labFile, n int) {
	if !b.noSampleFlag {
		argv := []string{b.nslab, "check", "--sample", strconv.Itoa(n), name}
		r, err := b.run(ctx, runOpts{timeout: 5 * time.Minute, stop: stopInterrupt}, argv...)
		lc.CheckRSS = r.MaxRSS
		switch {
		case err == nil:
			lc.Verify, lc.VerifyOK, lc.VerifyLater = fmt.Sprintf("nslab check --sample %d: %s", n, lastLine(r.Out)), true, true
			return
		case r.Code == 2 || strings.Contains(r.Err, "unknown flag"):
			b.noSampleFlag = true
			b.res.noteOnce("sample", "`nslab check --sample` is not there yet (%s): reachability was sampled with the bench's own ICMP prober (bench/probe.go)", r.tail())
		default:
			lc.Verify = fmt.Sprintf("nslab check --sample %d right after up: %s", n, r.tail())
			select {
			case <-ctx.Done():
				return
			case <-time.After(5 * time.Second):
			}
			r2, err := b.run(ctx, runOpts{timeout: 5 * time.Minute, stop: stopInterrupt}, argv...)
			if err == nil {
				lc.Verify += "; the same sample 5 s later: " + lastLine(r2.Out)
			} else {
				lc.Verify += "; the same sample 5 s later: " + r2.tail()
			}
			lc.VerifyLater = err == nil
			return
		}
	}
	pairs := samplePairs(lf, func(node string) string { return "/run/netns/" + name + "." + node }, n)
	lc.Verify, lc.VerifyOK, lc.VerifyLater = probeWithRetry(ctx, pairs)
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

// bigRun builds a large lab of n nodes: a dual-stack leaf-spine of
// 100-host leaves when `nslab gen` makes it, else (a file past nslab's
// 8 MiB, as at 50,000 nodes) an IPv4-only one of 500-host leaves, else a
// star spread over several bridges, else the fallback's LANs joined by a
// router; then up, check --sample 100, down, and a search for leftovers,
// with the kernel memory the lab took.
func (b *bench) bigRun(ctx context.Context, n int) *lifecycle {
	name := fmt.Sprintf("bench-big-%d", n)
	hpl := min(100, n)
	leaves := (n + hpl - 1) / hpl
	hpl4 := min(500, n)
	leaves4 := (n + hpl4 - 1) / hpl4
	forms := [][]string{
		{"leaf-spine", "--spines", "4", "--leaves", strconv.Itoa(leaves), "--hosts-per-leaf", strconv.Itoa(hpl), "--name", name},
		{"leaf-spine", "--ipv4-only", "--spines", "4", "--leaves", strconv.Itoa(leaves4), "--hosts-per-leaf", strconv.Itoa(hpl4), "--name", name},
		{"star", "--nodes", strconv.Itoa(n), "--name", name},
	}
	lc := &lifecycle{Tool: "nslab", N: n, Split: true, Big: true, Memory: true}
	path, how, err := b.generate(ctx, name, forms, func() string { return fallbackLANs(name, n, 1000, false) })
	if err != nil {
		lc.Err = err.Error()
		return lc
	}
	lc.Gen = how
	switch {
	case strings.Contains(how, "leaf-spine --ipv4-only"):
		lc.Topo = fmt.Sprintf("leaf-spine: 4 spines, %d leaves × %d hosts, IPv4 only", leaves4, hpl4)
	case strings.Contains(how, "leaf-spine"):
		lc.Topo = fmt.Sprintf("leaf-spine: 4 spines, %d leaves × %d hosts, dual-stack", leaves, hpl)
	case strings.Contains(how, "star"):
		lc.Topo = fmt.Sprintf("star of %d over trunked bridges, dual-stack", n)
	default:
		lc.Topo = fmt.Sprintf("%d hosts in LANs of ≤1000 joined by a router, dual-stack", n)
	}
	// 10 minutes for 10,000 nodes; past that, the root namespace's
	// linear list of namespace ids makes each node dearer.
	timeout := max(10*time.Minute, time.Duration(n/10000)*time.Duration(n/10000)*2*time.Minute)
	b.nslabLifecycle(ctx, lc, name, path, 100, timeout, nil)
	for attempt := 2; attempt <= 3 && strings.HasPrefix(lc.Err, "up: ") && ctx.Err() == nil; attempt++ {
		// A failed up is a result, reported; another attempt measures
		// the rest (check, down, leftovers).
		progress("%s: %s; trying again (attempt %d of 3)", lc.label(), lc.Err, attempt)
		lc.Failed = append(lc.Failed, fmt.Sprintf("attempt %d failed after %s: %s", attempt-1, secs(lc.Up), lc.Err))
		lc.Err, lc.Up = "", 0
		b.nslabLifecycle(ctx, lc, name, path, 100, timeout, nil)
	}
	return lc
}

// settledMemAvailable reads MemAvailable once the kernel has settled:
// when it moved by less than 8 MiB over 2 s, or after 60 s; 0 when it
// cannot be read.
func settledMemAvailable(ctx context.Context) uint64 {
	prev := memAvailable()
	for range 30 {
		select {
		case <-ctx.Done():
			return prev
		case <-time.After(2 * time.Second):
		}
		now := memAvailable()
		if d := int64(now) - int64(prev); d < 8<<20 && d > -8<<20 {
			return now
		}
		prev = now
	}
	return prev
}

// memAvailable is /proc/meminfo's MemAvailable in bytes; 0 when it
// cannot be read.
func memAvailable() uint64 {
	for line := range strings.Lines(readFileString("/proc/meminfo")) {
		if v, ok := strings.CutPrefix(line, "MemAvailable:"); ok {
			kb, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// kib writes a size in KiB.
func kib(b uint64) string { return fmt.Sprintf("%d KiB", b>>10) }
