package journal

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestAppendRead(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.jsonl")
	t0 := time.Date(2026, 12, 6, 9, 0, 0, 0, time.UTC)
	for i, k := range []string{"lab-up", "cut", "join"} {
		if err := Append(path, Event{Time: t0.Add(time.Duration(i) * time.Second), Lab: "l", Kind: k, Node: "h1", Iface: "eth0"}); err != nil {
			t.Fatal(err)
		}
	}
	ev, err := ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(ev) != 3 || ev[1].Kind != "cut" || !ev[2].Time.Equal(t0.Add(2*time.Second)) {
		t.Fatalf("read back %+v", ev)
	}
	if got, want := ev[1].String(), "l cut h1:eth0"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}

// A writer killed in the middle of a line leaves a torn line; the next
// writer's line follows it on the same line. The reader skips the torn
// part and keeps the whole event after it.
func TestTornLineSkipped(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.jsonl")
	if err := Append(path, Event{Lab: "l", Kind: "lab-up"}); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(`{"time":"2026-12-06T09:00:00Z","lab":"l","kind":"cu`)
	f.Close()
	if err := Append(path, Event{Lab: "l", Kind: "join", Node: "h1", Iface: "eth0"}); err != nil {
		t.Fatal(err)
	}
	f, _ = os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	f.WriteString("not json at all\n")
	f.Close()
	ev, err := ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, e := range ev {
		kinds = append(kinds, e.Kind)
	}
	if strings.Join(kinds, ",") != "lab-up,join" {
		t.Fatalf("kinds %v, want lab-up,join", kinds)
	}
}

// A line whose newline is not written yet is left for the next poll.
func TestTailWaitsForWholeLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.jsonl")
	tl := NewTail(path, 0)
	defer tl.Close()
	if ev, err := tl.Poll(); err != nil || len(ev) != 0 {
		t.Fatalf("poll of a missing file: %v %v", ev, err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	f.WriteString(`{"time":"2026-12-06T09:00:00Z","lab":"l","kind":"cut"`)
	if ev, _ := tl.Poll(); len(ev) != 0 {
		t.Fatalf("half a line read as %+v", ev)
	}
	f.WriteString("}\n")
	if ev, _ := tl.Poll(); len(ev) != 1 || ev[0].Kind != "cut" {
		t.Fatalf("whole line read as %+v", ev)
	}
}

// A journal removed and made anew (lab down, then up) is followed into
// the new file, after the old one's last lines.
func TestTailFollowsNewFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.jsonl")
	Append(path, Event{Lab: "l", Kind: "lab-up"})
	tl := NewTail(path, 0)
	defer tl.Close()
	if ev, _ := tl.Poll(); len(ev) != 1 {
		t.Fatalf("first poll %+v", ev)
	}
	Append(path, Event{Lab: "l", Kind: "lab-down"})
	os.Remove(path)
	Append(path, Event{Lab: "l", Kind: "lab-up"})
	ev, err := tl.Poll()
	if err != nil || len(ev) != 2 || ev[0].Kind != "lab-down" || ev[1].Kind != "lab-up" {
		t.Fatalf("poll across the new file: %+v %v", ev, err)
	}
}

// Writers appending at once never mix their lines.
func TestConcurrentAppends(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.jsonl")
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				Append(path, Event{Lab: "l", Kind: "cut", Detail: strings.Repeat("x", 300)})
			}
		}()
	}
	wg.Wait()
	ev, err := ReadFile(path)
	if err != nil || len(ev) != 400 {
		t.Fatalf("read %d events, want 400 (%v)", len(ev), err)
	}
}
