package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// BenchmarkCheckRate measures `nslab check --sample N` on a leaf-spine
// fabric of 4 spines and L leaves of 100 hosts each (L=10: 1,014 nodes;
// L=100: 10,104), built once, probed b.N times, removed after: probes a
// second (wall) and CPU per probe (the check's user + system time; on a
// shared machine the figure that holds). Issue 16 asks 3,000 probes a
// second on 10,000 nodes. Each round of the benchmark builds the lab
// and runs NSLAB_CHECKRATE_RUNS checks (default 3, seeds 0, 1, …): run
// it with -benchtime 1x, or Go builds the lab once more for its trial
// round.
//
//	sudo go test -run '^$' -bench CheckRate -benchtime 1x ./bench
//	sudo NSLAB_CHECKRATE_LEAVES=100 go test -run '^$' -bench CheckRate -benchtime 1x -timeout 30m ./bench
//
// NSLAB_CHECKRATE_SAMPLE sets the pairs per check (default 2500);
// NSLAB_CHECKRATE_BIN an nslab binary to measure instead of this tree's;
// NSLAB_CHECKRATE_BEFORE an older build (such as the one before a
// change) whose checks alternate with this one's on the same lab, with
// the same seeds, and the ratio of the two; NSLAB_CHECKRATE_LAB a
// running lab to probe instead of building one (left running).
//
// Each round also runs `check --sample 1` (one pair): its time is what a
// check costs whatever it probes (reading the lab's file, the model),
// and probes/s of the probing is the probes over the time beyond it.
func BenchmarkCheckRate(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("needs root: builds a lab")
	}
	leaves := envInt(b, "NSLAB_CHECKRATE_LEAVES", 10)
	sample := envInt(b, "NSLAB_CHECKRATE_SAMPLE", 2500)
	runs := envInt(b, "NSLAB_CHECKRATE_RUNS", 3)
	bin := os.Getenv("NSLAB_CHECKRATE_BIN")
	if bin == "" {
		bin = filepath.Join(b.TempDir(), "nslab")
		if out, err := exec.Command("go", "build", "-o", bin, "../cmd/nslab").CombinedOutput(); err != nil {
			b.Fatalf("building nslab: %v\n%s", err, out)
		}
	}
	bins := []string{bin}
	if before := os.Getenv("NSLAB_CHECKRATE_BEFORE"); before != "" {
		bins = append(bins, before)
	}
	name := os.Getenv("NSLAB_CHECKRATE_LAB")
	if name == "" {
		name = buildCheckLab(b, bin, leaves)
	}
	rates := make([]checkRate, len(bins))
	b.ResetTimer()
	for i := range b.N * runs {
		for k, bin := range bins {
			n, w, c := checkOnce(b, bin, name, sample, int64(i))
			_, fw, fc := checkOnce(b, bin, name, 1, int64(i))
			rates[k].add(n, w, c, fw, fc)
			b.Logf("%s check %d: %d probes in %v (%.0f/s), %v of CPU (%.3f ms a probe); --sample 1: %v, %v of CPU; probing alone %.0f/s, %.3f ms of CPU a probe",
				filepath.Base(bin), i+1, n, w.Round(time.Millisecond), float64(n)/w.Seconds(), c.Round(time.Millisecond), c.Seconds()*1000/float64(n),
				fw.Round(time.Millisecond), fc.Round(time.Millisecond), float64(n)/(w-fw).Seconds(), (c-fc).Seconds()*1000/float64(n))
		}
	}
	for k, r := range rates {
		b.Logf("%s: %s", bins[k], r)
	}
	if len(rates) == 2 {
		b.Logf("ratio (this / before): %.2f× probes/s, %.2f× probes/s of the probing, %.2f× less CPU a probe",
			rates[0].rate()/rates[1].rate(), rates[0].probingRate()/rates[1].probingRate(), rates[1].cpuPerProbe()/rates[0].cpuPerProbe())
	}
	b.ReportMetric(rates[0].rate(), "probes/s")
	b.ReportMetric(rates[0].probingRate(), "probing-probes/s")
	b.ReportMetric(rates[0].cpuPerProbe(), "cpu-ms/probe")
	b.ReportMetric(0, "ns/op")
}

// buildCheckLab builds the leaf-spine of the benchmark, removed at the
// end.
func buildCheckLab(b *testing.B, bin string, leaves int) string {
	name := fmt.Sprintf("bench-checkrate-%d", leaves)
	file := filepath.Join(b.TempDir(), name+".yaml")
	gen, err := exec.Command(bin, "gen", "leaf-spine", "--spines", "4", "--leaves", strconv.Itoa(leaves), "--hosts-per-leaf", "100", "--name", name).Output()
	if err != nil {
		b.Fatalf("nslab gen: %v", err)
	}
	if err := os.WriteFile(file, gen, 0o644); err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	if out, err := exec.Command(bin, "up", "-q", file).CombinedOutput(); err != nil {
		exec.Command(bin, "down", "-q", name).Run()
		b.Fatalf("nslab up: %v\n%s", err, out)
	}
	b.Logf("%s up in %v", name, time.Since(start).Round(time.Millisecond))
	b.Cleanup(func() {
		if out, err := exec.Command(bin, "down", "-q", name).CombinedOutput(); err != nil {
			b.Errorf("nslab down %s: %v\n%s", name, err, out)
		}
		out, _ := exec.Command("ip", "netns", "list").Output()
		if strings.Contains(string(out), name+".") {
			b.Errorf("namespaces of %s left after down", name)
		}
	})
	return name
}

// checkRate sums the checks of one binary.
type checkRate struct {
	probes                 int
	wall, cpu, fwall, fcpu time.Duration
}

func (r *checkRate) add(n int, w, c, fw, fc time.Duration) {
	r.probes += n
	r.wall, r.cpu, r.fwall, r.fcpu = r.wall+w, r.cpu+c, r.fwall+fw, r.fcpu+fc
}

func (r checkRate) rate() float64        { return float64(r.probes) / r.wall.Seconds() }
func (r checkRate) probingRate() float64 { return float64(r.probes) / (r.wall - r.fwall).Seconds() }
func (r checkRate) cpuPerProbe() float64 { return r.cpu.Seconds() * 1000 / float64(r.probes) }

func (r checkRate) String() string {
	return fmt.Sprintf("%d probes, %.0f probes/s (%.3f ms of CPU a probe); beyond --sample 1: %.0f probes/s, %.3f ms of CPU a probe",
		r.probes, r.rate(), r.cpuPerProbe(), r.probingRate(), (r.cpu-r.fcpu).Seconds()*1000/float64(r.probes))
}

// checkOnce runs one sampled check (seed seed) and returns its probes,
// wall time and CPU time; every probe must pass.
func checkOnce(b *testing.B, bin, lab string, sample int, seed int64) (int, time.Duration, time.Duration) {
	cmd := exec.Command(bin, "check", "--sample", strconv.Itoa(sample), "--seed", strconv.FormatInt(seed, 10), "-o", "json", lab)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	start := time.Now()
	err := cmd.Run()
	wall := time.Since(start)
	var r struct {
		Passed, Failed int
	}
	if jerr := json.Unmarshal(out.Bytes(), &r); err != nil || jerr != nil || r.Failed != 0 {
		b.Fatalf("nslab check: %v %v: %d passed, %d failed\n%s", err, jerr, r.Passed, r.Failed, errb.String())
	}
	ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	return r.Passed, wall, time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func envInt(b *testing.B, key string, def int) int {
	s := os.Getenv(key)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 {
		b.Fatalf("%s=%q: want a positive number", key, s)
	}
	return n
}
