package main

import (
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nslab/nslab/internal/labtest"
	"github.com/nslab/nslab/kernel"
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
	labtest.RequireRoot(t)
	seed := time.Now().UnixNano()
	if s := os.Getenv("NSLAB_KILL_SEED"); s != "" {
		var err error
		if seed, err = strconv.ParseInt(s, 10, 64); err != nil {
			t.Fatalf("NSLAB_KILL_SEED: %v", err)
		}
	}
	t.Logf("seed %d (NSLAB_KILL_SEED=%d repeats it)", seed, seed)
	rng := rand.New(rand.NewPCG(uint64(seed), 1))

	name := labtest.Name("kc")
	dir := t.TempDir()
	gen := func(file string, nodes int, mtu bool) string {
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
	base, mtu, grow := gen("base.yaml", 120, false), gen("mtu.yaml", 120, true), gen("grow.yaml", 150, false)
	t.Cleanup(func() {
		if r := nslab(t, "", "down", "-q", name); r.code != 0 {
			t.Errorf("down: %s", r.stderr)
		}
		labtest.CheckLeaks(t, name)
	})
	must := func(args ...string) time.Duration {
		start := time.Now()
		if r := nslab(t, "", args...); r.code != 0 {
			t.Fatalf("nslab %s: %s", strings.Join(args, " "), r.stderr)
		}
		return time.Since(start)
	}
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
