package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/nslab/nslab/lab"
)

func TestProgressLine(t *testing.T) {
	for _, tc := range []struct {
		r    lab.Progress
		want string
	}{
		{lab.Progress{Stage: "links", Done: 500, Total: 2000, Elapsed: time.Second, Left: 3200 * time.Millisecond}, "links      500/2000 ops  1s  about 3s left"},
		{lab.Progress{Stage: "namespaces", Done: 5, Total: 2000, Elapsed: 300 * time.Millisecond}, "namespaces 5/2000 ops  300ms"},
		{lab.Progress{Stage: "routes", Done: 100, Total: 73131, Elapsed: 10 * time.Second, Left: 94 * time.Second}, "routes     100/73131 ops  10s  about 1m30s left"},
		{lab.Progress{Stage: "links up", Done: 2000, Total: 2000, Elapsed: 2 * time.Second, Left: time.Second}, "links up   2000/2000 ops  2s"},
	} {
		if got := progressLine(tc.r); got != tc.want {
			t.Errorf("progressLine(%+v) = %q, want %q", tc.r, got, tc.want)
		}
	}
}

// clock is a fake clock that tests move by hand.
type clock struct{ t time.Time }

func (c *clock) now() time.Time       { return c.t }
func (c *clock) step(d time.Duration) { c.t = c.t.Add(d) }
func report(done int, left time.Duration) lab.Progress {
	return lab.Progress{Stage: "links", Done: done, Total: 1000, Left: left}
}

// TestProgressTerminal: on a terminal one line is rewritten in place, at
// most ten times a second; a redraw between reports counts the time left
// down; done clears the line.
func TestProgressTerminal(t *testing.T) {
	var b bytes.Buffer
	c := &clock{t: time.Unix(1e9, 0)}
	p := newProgressTo(&b, true, c.now)
	c.step(200 * time.Millisecond)
	p.update(report(10, 20*time.Second))
	c.step(10 * time.Millisecond)
	p.update(report(11, 20*time.Second)) // too soon: not drawn
	c.step(5 * time.Second)
	p.redraw()
	p.done()
	want := "\r\033[Klinks      10/1000 ops  0s  about 20s left" +
		"\r\033[Klinks      11/1000 ops  5s  about 15s left" + "\r\033[K"
	if got := b.String(); got != want {
		t.Errorf("terminal got\n%q\nwant\n%q", got, want)
	}
}

// TestProgressPlain: on a pipe or in a log, plain lines, the first after
// ten seconds and then at most one every ten seconds; nothing at all for
// a short command.
func TestProgressPlain(t *testing.T) {
	var b bytes.Buffer
	c := &clock{t: time.Unix(1e9, 0)}
	p := newProgressTo(&b, false, c.now)
	for i := range 50 { // 5 s of reports, 10 a second
		c.step(100 * time.Millisecond)
		p.update(report(i, time.Minute))
	}
	if b.Len() != 0 {
		t.Fatalf("a plain line in the first 5 s: %q", b.String())
	}
	for i := range 200 { // 20 s more
		c.step(100 * time.Millisecond)
		r := report(50+i, time.Minute)
		r.Elapsed = time.Duration(51+i) * 100 * time.Millisecond
		p.update(r)
	}
	p.update(report(1000, 0)) // done: no line for it
	p.done()
	lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	if len(lines) != 2 || strings.ContainsAny(b.String(), "\r\033") {
		t.Fatalf("got %q, want 2 plain lines (at 10 s and 20 s)", b.String())
	}
	if want := "nslab: links      99/1000 ops  10s  about 1m0s left"; lines[0] != want {
		t.Errorf("first line %q, want %q", lines[0], want)
	}
}

// TestProgressQuiet: -q draws nothing, and a nil progress takes reports.
func TestProgressQuiet(t *testing.T) {
	p := newProgress(true)
	if p != nil {
		t.Fatal("progress with -q")
	}
	p.update(report(1, time.Second)) // must not panic
	p.done()
}
