package nslabtest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/nftables"
	"golang.org/x/sys/unix"

	"github.com/nslab/nslab/internal/procstat"
	"github.com/nslab/nslab/kernel"
	"github.com/nslab/nslab/lab"
)

// owner names a process for good: its pid and its start time (in clock
// ticks since boot, /proc/PID/stat's 22nd field), so that a pid the
// kernel gave again to another process is not taken for the one that
// died.
type owner struct {
	pid   int
	start uint64 // 0: unknown (a record of a pid alone)
}

// self is this test process.
func self() owner {
	pid := os.Getpid()
	start, _ := startTime(pid)
	return owner{pid, start}
}

func (o owner) String() string { return fmt.Sprintf("%d %d", o.pid, o.start) }

// parseOwner reads "PID START" or, as older records have it, "PID".
func parseOwner(s string) (owner, bool) {
	f := strings.Fields(s)
	if len(f) == 0 || len(f) > 2 {
		return owner{}, false
	}
	pid, err := strconv.Atoi(f[0])
	if err != nil || pid <= 0 {
		return owner{}, false
	}
	o := owner{pid: pid}
	if len(f) == 2 {
		if o.start, err = strconv.ParseUint(f[1], 10, 64); err != nil {
			return owner{}, false
		}
	}
	return o, true
}

// alive reports whether the process still runs: a process of that pid
// that started at the recorded time.
func (o owner) alive() bool {
	if syscall.Kill(o.pid, 0) == syscall.ESRCH {
		return false
	}
	if o.start == 0 {
		return true
	}
	start, err := startTime(o.pid)
	return err != nil || start == o.start // unreadable: assume it lives
}

// startTime reads when process pid started, in clock ticks since boot.
func startTime(pid int) (uint64, error) {
	_, start, err := procstat.Read(pid)
	return start, err
}

// recordDir holds one file per lab named (Name) or owned (Own) by a test
// process, named after the lab, that says which process (pid and start
// time) owns it; shared by every test process on the machine.
const recordDir = "/run/nslab-test-labs"

func recordPath(name string) string { return filepath.Join(recordDir, name) }

// record writes down that this process owns lab name, before it exists.
func record(name string) error {
	var err error
	for range 3 { // the last owner may remove the directory meanwhile
		if err = os.MkdirAll(recordDir, 0o700); err != nil {
			continue
		}
		if err = os.WriteFile(recordPath(name), []byte(self().String()+"\n"), 0o600); err == nil {
			return nil
		}
	}
	return fmt.Errorf("recording test lab %s in %s: %w", name, recordDir, err)
}

// recordNew records lab name as this process's unless a record of it
// is there already: another live process's, or a dead one's whose lab
// the reaper has yet to remove. It reports false only then. Where no
// record can be made (not root: no lab either), the name is this
// process's by its pid alone, as before records.
func recordNew(name string) bool {
	if os.Geteuid() != 0 {
		return true
	}
	for range 3 {
		if err := os.MkdirAll(recordDir, 0o700); err != nil {
			return true
		}
		f, err := os.OpenFile(recordPath(name), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
		switch {
		case err == nil:
			fmt.Fprintln(f, self())
			f.Close()
			return true
		case errors.Is(err, os.ErrExist):
			return false
		case errors.Is(err, os.ErrNotExist):
			// The directory went meanwhile (the cleanup of its last
			// record): again.
		default:
			return true
		}
	}
	return true
}

var reapOnce sync.Once

// reap removes, once per test process, the labs of test processes that
// died (reapDead).
func reap(logf func(format string, args ...any)) {
	reapOnce.Do(func() { reapDead(logf) })
}

// logStderr is where Name, which has no test to log to, says what its
// reap removed.
func logStderr(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "nslabtest: "+format+"\n", args...)
}

// Own records that this test process owns lab name until the test ends,
// so that the next test process on the machine removes the lab if this
// one dies first (killed by go test's timeout, kill -9); it removes the
// labs of test processes that died so. Name records its names so for as
// long as the process lives; CheckLeaksAtEnd and Start call Own.
func Own(t testing.TB, name string) {
	t.Helper()
	reap(t.Logf)
	if err := record(name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		os.Remove(recordPath(name))
		os.Remove(recordDir) // when no other test holds one
	})
}

// reapDead removes the labs whose test processes died without removing
// them, and their records; a record whose lab is not there (its test
// ended and removed it, but did not own it till then) just goes. Each
// record is locked while its lab is removed (lockDead): two test
// processes never reap one lab at once, and a test may hold a record
// to keep a dead process's lab from the reap while it looks at it.
func reapDead(logf func(format string, args ...any)) {
	dead := deadLabs()
	here := present(dead)
	for _, name := range dead {
		f := lockDead(name)
		if f == nil {
			continue
		}
		if here[name] {
			if err := remove(name); err != nil {
				logf("removing lab %s, left by a test process that died: %v", name, err)
				f.Close()
				continue
			}
			logf("removed lab %s, left by a test process that died", name)
		}
		os.Remove(recordPath(name))
		f.Close()
	}
	os.Remove(recordDir) // when no other test holds one
}

// lockDead locks the record of lab name for its reap and returns it
// open, or nil: when another process holds it (reaping it, or a test
// keeping it), when it is gone, or when its owner lives (a record made
// anew since it was found dead).
func lockDead(name string) *os.File {
	f, err := os.Open(recordPath(name))
	if err != nil {
		return nil
	}
	if unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB) != nil {
		f.Close()
		return nil
	}
	data, err := io.ReadAll(f)
	if o, ok := parseOwner(string(data)); err != nil || !ok || o.alive() {
		f.Close()
		return nil
	}
	return f
}

// holdRecord keeps lab name's record from the reap (lockDead) until the
// returned file is closed.
func holdRecord(name string) (*os.File, error) {
	f, err := os.Open(recordPath(name))
	if err != nil {
		return nil, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_SH|unix.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("locking the record of %s: %w", name, err)
	}
	return f, nil
}

// deadLabs lists the recorded labs whose owner is gone.
func deadLabs() []string {
	entries, _ := os.ReadDir(recordDir)
	var dead []string
	for _, e := range entries {
		data, err := os.ReadFile(recordPath(e.Name()))
		if err != nil {
			continue
		}
		if o, ok := parseOwner(string(data)); ok && !o.alive() {
			dead = append(dead, e.Name())
		}
	}
	return dead
}

// present tells which of the labs have something on the machine that
// would outlive their test process: state or a lock (every lab nslab
// builds has its lock from before its first object until down has
// removed its last), a namespace named as the lab's, or an nftables
// table of the lab or of its test. It reads each place once for all.
func present(names []string) map[string]bool {
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	out := map[string]bool{}
	for _, n := range names {
		for _, f := range statePaths(n) {
			if _, err := os.Stat(f); err == nil {
				out[n] = true
			}
		}
	}
	entries, _ := os.ReadDir(kernel.NetnsDir)
	for _, e := range entries {
		for _, n := range netnsLabs(e.Name()) {
			out[n] = out[n] || want[n]
		}
	}
	if tables, err := kernel.NftTables(); err == nil {
		for n := range want {
			out[n] = out[n] || tables[n]
		}
	}
	for _, tb := range listTables() {
		for n := range want {
			out[n] = out[n] || isTestTable(tb.Name, n)
		}
	}
	return out
}

// netnsLabs lists the labs whose namespace ns may be by its name (what
// stands before any of its dots): Leftovers counts NAME.* as lab NAME's.
func netnsLabs(ns string) []string {
	var out []string
	for i := range len(ns) {
		if ns[i] == '.' {
			out = append(out, ns[:i])
		}
	}
	return out
}

// remove removes what is left of a dead test process's lab: down, then
// what down leaves as not made by nslab but named as the lab's (the
// namespaces and nftables tables of tests that build with the kernel
// package or ip). It fails when something stays.
func remove(name string) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	downErr := lab.Down(ctx, name, lab.Options{})
	entries, _ := os.ReadDir(kernel.NetnsDir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), name+".") {
			exec.Command("ip", "netns", "delete", e.Name()).Run()
		}
	}
	if c, err := nftables.New(); err == nil {
		for _, tb := range listTables() {
			if isTestTable(tb.Name, name) {
				c.DelTable(tb)
				c.Flush()
			}
		}
		c.CloseLasting()
	}
	if left := Leftovers(name); len(left) > 0 {
		return errors.Join(downErr, fmt.Errorf("left: %s", strings.Join(left, "; ")))
	}
	return nil
}
