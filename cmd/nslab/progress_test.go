package main

import (
	"bytes"
	"os"
	"testing"
	"time"
)

func TestProgressLine(t *testing.T) {
	for _, tc := range []struct {
		done, total int
		elapsed     time.Duration
		want        string
	}{
		{500, 2000, time.Second, "links      500/2000 ops  500 ops/s  ~3s left"},
		{2000, 2000, 2 * time.Second, "links      2000/2000 ops  1000 ops/s"},
	} {
		if got := progressLine("links", tc.done, tc.total, tc.elapsed); got != tc.want {
			t.Errorf("progressLine(%d, %d, %v) = %q, want %q", tc.done, tc.total, tc.elapsed, got, tc.want)
		}
	}
}

func TestProgressStaysOffTerminal(t *testing.T) {
	if !isTerminal(os.Stderr) && newProgress(false) != nil {
		t.Error("progress drawn on a stderr that is not a terminal")
	}
	var nilBar *progress
	nilBar.update("x", 1, 2) // must not panic
	nilBar.done()
	var b bytes.Buffer
	p := &progress{w: &b, start: time.Now().Add(-time.Second)}
	p.update("links", 1, 2)
	p.done()
	if b.Len() == 0 {
		t.Error("a progress line on a writer drew nothing")
	}
}
