package logtail

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func write(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
}

func appendTo(t *testing.T, path, text string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(text); err != nil {
		t.Fatal(err)
	}
}

func numbered(from, to int) string {
	var b strings.Builder
	for i := from; i <= to; i++ {
		fmt.Fprintf(&b, "line %d\n", i)
	}
	return b.String()
}

func lines(from, to int) []string {
	return strings.Split(strings.TrimSuffix(numbered(from, to), "\n"), "\n")
}

func TestLast(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "svc.log")
	long := strings.Repeat("x", 100<<10)            // longer than a read chunk
	write(t, Rotated(log), "ne 0\n"+numbered(1, 5)) // the end of the log before: from inside a line
	write(t, log, numbered(6, 8)+long+"\n"+numbered(9, 10)+"half")
	for _, c := range []struct {
		n    int
		want []string
	}{
		{0, nil},
		{1, []string{"half"}},
		{3, []string{"line 9", "line 10", "half"}},
		{4, append([]string{long}, "line 9", "line 10", "half")},
		{8, append(append(lines(5, 8), long), "line 9", "line 10", "half")},
		{-1, append(append(lines(1, 8), long), "line 9", "line 10", "half")},
		{100, append(append(lines(1, 8), long), "line 9", "line 10", "half")},
	} {
		got, err := Last(log, c.n)
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(c.want, got); d != "" {
			t.Errorf("Last(%d) (-want +got):\n%s", c.n, d)
		}
	}
	if got, err := Last(filepath.Join(dir, "none.log"), 5); err != nil || got != nil {
		t.Errorf("Last of a missing log: %q, %v", got, err)
	}
}

// following runs a Follower in the background and collects its lines.
type following struct {
	mu    sync.Mutex
	got   []string
	done  chan error
	stop  context.CancelFunc
	start time.Time
}

func follow(t *testing.T, path string, n int) *following {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	f := &following{done: make(chan error, 1), stop: cancel}
	fl := New(path)
	fl.Interval = 10 * time.Millisecond
	fl.Gone = 300 * time.Millisecond
	go func() {
		f.done <- fl.Follow(ctx, n, func(l string) {
			f.mu.Lock()
			f.got = append(f.got, l)
			f.mu.Unlock()
		})
	}()
	t.Cleanup(cancel)
	return f
}

// waitFor waits until the follower has emitted want (2 s at most).
func (f *following) waitFor(t *testing.T, want []string) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for {
		f.mu.Lock()
		got := append([]string(nil), f.got...)
		f.mu.Unlock()
		if cmp.Equal(want, got) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("followed lines (-want +got):\n%s", cmp.Diff(want, got))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestFollowAcrossCopyTruncate: a supervisor rotates a log that the
// service holds open by copying it to FILE.1 and truncating it. Lines
// written after the follower's last look and before the copy are read
// from the copy, none twice.
func TestFollowAcrossCopyTruncate(t *testing.T) {
	log := filepath.Join(t.TempDir(), "svc.log")
	write(t, log, numbered(1, 4))
	w, err := os.OpenFile(log, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	f := follow(t, log, 2)
	f.waitFor(t, lines(3, 4))
	fmt.Fprint(w, numbered(5, 6))
	f.waitFor(t, lines(3, 6))
	// Rotate while the follower sleeps: line 7 lands between its last
	// look and the copy.
	fmt.Fprint(w, numbered(7, 7))
	data, _ := os.ReadFile(log)
	write(t, Rotated(log), string(data))
	if err := os.Truncate(log, 0); err != nil {
		t.Fatal(err)
	}
	fmt.Fprint(w, numbered(8, 9)) // O_APPEND: written at the new end
	f.waitFor(t, lines(3, 9))
}

// TestFollowAcrossRename: a log renamed to FILE.1 and made anew is read to
// its end, then the new one from its start.
func TestFollowAcrossRename(t *testing.T) {
	log := filepath.Join(t.TempDir(), "svc.log")
	write(t, log, numbered(1, 2))
	f := follow(t, log, -1)
	f.waitFor(t, lines(1, 2))
	w, err := os.OpenFile(log, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if err := os.Rename(log, Rotated(log)); err != nil {
		t.Fatal(err)
	}
	fmt.Fprint(w, numbered(3, 3)) // the old writer, before it reopens
	time.Sleep(50 * time.Millisecond)
	write(t, log, numbered(4, 5))
	f.waitFor(t, lines(1, 5))
}

// TestFollowHoldsUnfinishedLines: a line is emitted once whole, and a
// line left unfinished is emitted at the end.
func TestFollowHoldsUnfinishedLines(t *testing.T) {
	log := filepath.Join(t.TempDir(), "svc.log")
	write(t, log, "one\ntw")
	f := follow(t, log, 5)
	f.waitFor(t, []string{"one"})
	appendTo(t, log, "o\nthr")
	f.waitFor(t, []string{"one", "two"})
	appendTo(t, log, "ee")
	time.Sleep(50 * time.Millisecond)
	f.waitFor(t, []string{"one", "two"})
	f.stop()
	if err := <-f.done; err != nil {
		t.Errorf("Follow after its context ended: %v, want nil", err)
	}
	f.waitFor(t, []string{"one", "two", "three"})
}

// TestFollowEndsWhenRemoved: a log removed for good (the lab went down)
// ends Follow with ErrRemoved; one that does not exist yet is waited for.
func TestFollowEndsWhenRemoved(t *testing.T) {
	log := filepath.Join(t.TempDir(), "svc.log")
	f := follow(t, log, 10)
	time.Sleep(100 * time.Millisecond)
	write(t, log, numbered(1, 1))
	f.waitFor(t, lines(1, 1))
	os.Remove(log)
	select {
	case err := <-f.done:
		if !errors.Is(err, ErrRemoved) {
			t.Errorf("Follow of a removed log: %v, want ErrRemoved", err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("Follow still runs 3 s after its log was removed")
	}
}

// copyTruncate rotates a log as the supervisor does: a copy renamed over
// FILE.1, then the log emptied.
func copyTruncate(t *testing.T, log string) {
	t.Helper()
	data, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	write(t, log+".1.new", string(data))
	if err := os.Rename(log+".1.new", Rotated(log)); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(log, 0); err != nil {
		t.Fatal(err)
	}
}

// TestRotationSeenAfterRegrowth: between two looks, the log is rotated
// twice over and grows past the offset read so far: the new rotated file
// tells the rotation, not the size. Looked at between the copy and the
// truncation, nothing is read twice.
func TestRotationSeenAfterRegrowth(t *testing.T) {
	log := filepath.Join(t.TempDir(), "svc.log")
	write(t, Rotated(log), "old\n")
	write(t, log, numbered(1, 3))
	var got []string
	emit := func(l string) { got = append(got, l) }
	fl := New(log)
	if err := fl.start(2, emit); err != nil {
		t.Fatal(err)
	}
	appendTo(t, log, numbered(4, 5))
	copyTruncate(t, log)
	appendTo(t, log, numbered(6, 40)) // longer than lines 1-5
	if err := fl.poll(emit); err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(lines(2, 40), got); d != "" {
		t.Fatalf("after a rotation and regrowth (-want +got):\n%s", d)
	}
	// A look between the copy and the truncation.
	got = nil
	appendTo(t, log, numbered(41, 42))
	data, _ := os.ReadFile(log)
	write(t, log+".1.new", string(data))
	os.Rename(log+".1.new", Rotated(log))
	appendTo(t, log, numbered(43, 43)) // after the copy: lost to FILE.1
	if err := fl.poll(emit); err != nil {
		t.Fatal(err)
	}
	os.Truncate(log, 0)
	appendTo(t, log, numbered(44, 45))
	if err := fl.poll(emit); err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(lines(41, 45), got); d != "" {
		t.Errorf("looked at between copy and truncation (-want +got):\n%s", d)
	}
}

// keepLast rotates a log as the supervisor does when the log ran past
// its cap: its last keep bytes (from the middle of a line, as may be)
// renamed over FILE.1, then the log emptied.
func keepLast(t *testing.T, log string, keep int) {
	t.Helper()
	data, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	write(t, log+".1.new", string(data[max(0, len(data)-keep):]))
	if err := os.Rename(log+".1.new", Rotated(log)); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(log, 0); err != nil {
		t.Fatal(err)
	}
}

// TestFollowAcrossTailCopy: the rotated file holds only the end of the
// log. The lines written after the last look are found after the last
// bytes read; a follower that fell behind by more than the copy holds
// goes on from the copy's first whole line, without a fragment.
func TestFollowAcrossTailCopy(t *testing.T) {
	log := filepath.Join(t.TempDir(), "svc.log")
	write(t, log, numbered(1, 100))
	var got []string
	emit := func(l string) { got = append(got, l) }
	fl := New(log)
	if err := fl.start(1, emit); err != nil {
		t.Fatal(err)
	}
	appendTo(t, log, numbered(101, 110))
	keepLast(t, log, 205) // from inside line 87
	appendTo(t, log, numbered(111, 115))
	if err := fl.poll(emit); err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(lines(100, 115), got); d != "" {
		t.Fatalf("across a copy of the log's end (-want +got):\n%s", d)
	}

	got = nil
	appendTo(t, log, numbered(116, 500))
	keepLast(t, log, 105) // lines 490-500 and the end of 489
	appendTo(t, log, numbered(501, 502))
	if err := fl.poll(emit); err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(lines(490, 502), got); d != "" {
		t.Errorf("behind by more than the copy (-want +got):\n%s", d)
	}

	// The copy begins inside the last bytes read.
	got = nil
	appendTo(t, log, numbered(503, 505))
	keepLast(t, log, len(numbered(502, 505))+4) // from inside line 501
	appendTo(t, log, numbered(506, 506))
	if err := fl.poll(emit); err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(lines(503, 506), got); d != "" {
		t.Errorf("a copy that begins in what was read (-want +got):\n%s", d)
	}
}

// TestRotationBeforeFirstRead: a follower that has read nothing yet (the
// log was empty when it started) when the log is rotated finds what it
// missed in the copy (but the copy's first line, a part of one); looked at
// between the copy and the truncation, it reads the log itself, once.
func TestRotationBeforeFirstRead(t *testing.T) {
	log := filepath.Join(t.TempDir(), "svc.log")
	write(t, log, "")
	var got []string
	emit := func(l string) { got = append(got, l) }
	fl := New(log)
	if err := fl.start(-1, emit); err != nil {
		t.Fatal(err)
	}
	appendTo(t, log, numbered(1, 100))
	keepLast(t, log, len(numbered(50, 100))+3) // from inside line 49
	appendTo(t, log, numbered(101, 102))
	if err := fl.poll(emit); err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(lines(50, 102), got); d != "" {
		t.Fatalf("rotated before the first read (-want +got):\n%s", d)
	}

	log2 := filepath.Join(t.TempDir(), "svc.log")
	write(t, log2, "")
	got = nil
	fl = New(log2)
	if err := fl.start(-1, emit); err != nil {
		t.Fatal(err)
	}
	appendTo(t, log2, numbered(1, 100))
	data, _ := os.ReadFile(log2)
	write(t, Rotated(log2), string(data[len(data)-200:])) // copied, not yet truncated
	if err := fl.poll(emit); err != nil {
		t.Fatal(err)
	}
	os.Truncate(log2, 0)
	appendTo(t, log2, numbered(101, 101))
	if err := fl.poll(emit); err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(lines(1, 101), got); d != "" {
		t.Errorf("looked at between the copy and the truncation, before the first read (-want +got):\n%s", d)
	}
}

// TestLineSplitByRotation: a writer's buffered writes split a line
// across a copy and truncation ("18" before it, "4" after); the follower
// joins the two, as the writer meant, instead of emitting "18" and "4"
// (TestLogsFollowAcrossRotation read "184" after 184146).
func TestLineSplitByRotation(t *testing.T) {
	log := filepath.Join(t.TempDir(), "svc.log")
	write(t, log, "1\n2\n18")
	w, err := os.OpenFile(log, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	f := follow(t, log, -1)
	f.waitFor(t, []string{"1", "2"})
	time.Sleep(250 * time.Millisecond) // a look or two with "18" unfinished
	data, _ := os.ReadFile(log)
	write(t, Rotated(log), string(data))
	if err := os.Truncate(log, 0); err != nil {
		t.Fatal(err)
	}
	fmt.Fprint(w, "4\n5\n")
	f.waitFor(t, []string{"1", "2", "184", "5"})
}
