package nslabtest

import (
	"fmt"
	"os"
	"os/exec"
	"testing"
)

// deadOwner is a process that ran and ended: a record of it is dead.
func deadOwner(t testing.TB) owner {
	t.Helper()
	cmd := exec.Command("sleep", "0.1")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	start, err := startTime(cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	o := owner{cmd.Process.Pid, start}
	cmd.Wait()
	if o.alive() {
		t.Fatalf("%v is alive after it ended", o)
	}
	return o
}

// staleRecords writes n records of labs that dead owned and that are
// not on the machine: what a test process that named labs with Name
// alone and removed them leaves for the next reap.
func staleRecords(t testing.TB, dead owner, n int) []string {
	t.Helper()
	var names []string
	for i := range n {
		name := fmt.Sprintf("lh-stale%d-%d", dead.pid, i)
		if err := os.MkdirAll(recordDir, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(recordPath(name), []byte(dead.String()+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		names = append(names, name)
	}
	t.Cleanup(func() {
		for _, n := range names {
			os.Remove(recordPath(n))
		}
		os.Remove(recordDir)
	})
	return names
}

// TestStaleRecordsGo: the reap removes the records of dead processes
// whose labs are not there, without a down (nothing logged), and keeps
// those of live ones.
func TestStaleRecordsGo(t *testing.T) {
	RequireRoot(t)
	live := Name("lh-live") // its own reap first, not after the records
	t.Cleanup(func() { os.Remove(recordPath(live)); os.Remove(recordDir) })
	stale := staleRecords(t, deadOwner(t), 20)
	var logged []string
	reapDead(func(f string, a ...any) { logged = append(logged, fmt.Sprintf(f, a...)) })
	for _, n := range stale {
		if _, err := os.Stat(recordPath(n)); err == nil {
			t.Errorf("record %s of a dead process with no lab stays", n)
		}
	}
	if _, err := os.Stat(recordPath(live)); err != nil {
		t.Errorf("the record of this live process's %s went: %v", live, err)
	}
	if len(logged) > 0 {
		t.Errorf("reaped labs that were not there: %q", logged)
	}
}

// BenchmarkReapStale: what the first Name of a test process costs when
// the last run left n records of labs it removed (go test -bench
// ReapStale ./nslabtest).
func BenchmarkReapStale(b *testing.B) {
	RequireRoot(b)
	dead := deadOwner(b)
	for _, n := range []int{1, 200} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			for b.Loop() {
				b.StopTimer()
				staleRecords(b, dead, n)
				b.StartTimer()
				reapDead(b.Logf)
			}
			entries, _ := os.ReadDir("/run/netns")
			b.ReportMetric(float64(len(entries)), "netns-on-machine")
		})
	}
}
