package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nslab/nslab/kernel"
	"github.com/nslab/nslab/nslabtest"
	"github.com/nslab/nslab/plan"
)

// TestKillDuringChange kills nslab (SIGKILL) at random moments of changes
// of a running lab (MTU of every cable, 30 nodes more, 30 nodes fewer)
// while a process runs in node h1, which no change touches. The next up
// finishes the change: h1 keeps its namespace and its process, and the
// lab converges to the file. NSLAB_KILL_SEED repeats a run's draw.
func TestKillDuringChange(t *testing.T) {
	if testing.Short() {
		t.Skip("kills nslab 12 times while it changes a 120-node lab: not in -short")
	}
	nslabtest.RequireRoot(t)
	rng := killRNG(t, 1)

	name := nslabtest.Name("kc")
	dir := t.TempDir()
	gen := starFiles(t, name, dir)
	base, mtu, grow := gen("base.yaml", 120, false), gen("mtu.yaml", 120, true), gen("grow.yaml", 150, false)
	downAtEnd(t, name)
	must := func(args ...string) time.Duration { return timed(t, args...) }
	must("up", "-q", base)
	took := map[string]time.Duration{mtu: must("up", "-q", mtu), grow: must("up", "-q", grow), base: must("up", "-q", base)}

	h1 := plan.NetnsName(name, "h1")
	ino := func() uint64 {
		fi, err := os.Stat(kernel.NetnsPath(h1))
		if err != nil {
			t.Fatalf("h1's namespace: %v", err)
		}
		return fi.Sys().(*syscall.Stat_t).Ino
	}
	was := ino()
	sleeper := exec.Command("ip", "netns", "exec", h1, "sleep", "600")
	if err := sleeper.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sleeper.Process.Kill(); sleeper.Wait() })
	// Alive and not a zombie: a process ended by down stays one until
	// Cleanup reaps it.
	alive := func() bool {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", sleeper.Process.Pid))
		f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
		return err == nil && len(f) > 0 && f[0] != "Z"
	}

	order := []string{mtu, grow, base}
	killed := 0
	for i := range 12 {
		file := order[i%len(order)]
		at := time.Duration(rng.Int64N(int64(took[file])))
		hit, _ := killAt(t, at, "up", "-q", file)
		left := "the finished run"
		if hit {
			killed++
			left = partial(t, name)
		}
		r := nslab(t, "", "up", "-q", file)
		if r.code != 0 {
			t.Fatalf("kill %d at %v of the change to %s: up: %s", i, at, filepath.Base(file), r.stderr)
		}
		converged(t, name, file)
		if got := ino(); got != was || !alive() {
			t.Fatalf("kill %d at %v of the change to %s (left %s): h1's namespace inode %d (was %d), its process alive %v",
				i, at, filepath.Base(file), left, got, was, alive())
		}
		t.Logf("kill %2d at %6v of %6v (%s): %s", i, at.Round(time.Millisecond), took[file].Round(time.Millisecond), filepath.Base(file), left)
	}
	if killed < 4 {
		t.Errorf("only %d of 12 kills hit a running nslab", killed)
	}
}
