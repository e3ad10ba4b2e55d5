package main

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// isTerminal reports whether f is a terminal.
func isTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// progress draws "stage done/total, rate, time left" on one terminal line,
// at most ten times a second. It draws nothing unless w is a terminal, so
// logs and pipes stay plain.
type progress struct {
	mu    sync.Mutex
	w     io.Writer
	start time.Time
	last  time.Time
	drawn bool
}

// newProgress returns a progress line on stderr, or nil when stderr is not
// a terminal or quiet is set.
func newProgress(quiet bool) *progress {
	if quiet || !isTerminal(os.Stderr) {
		return nil
	}
	return &progress{w: os.Stderr, start: time.Now()}
}

// update is a lab.Options.Progress function; a nil progress ignores it.
func (p *progress) update(stage string, done, total int) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	if now.Sub(p.last) < 100*time.Millisecond && done < total {
		return
	}
	p.last = now
	p.drawn = true
	fmt.Fprint(p.w, "\r\033[K"+progressLine(stage, done, total, now.Sub(p.start)))
}

// progressLine formats one progress report.
func progressLine(stage string, done, total int, elapsed time.Duration) string {
	rate := float64(done) / elapsed.Seconds()
	line := fmt.Sprintf("%-10s %d/%d ops  %.0f ops/s", stage, done, total, rate)
	if rate > 0 && done < total {
		left := time.Duration(float64(total-done) / rate * float64(time.Second))
		line += fmt.Sprintf("  ~%s left", left.Round(100*time.Millisecond))
	}
	return line
}

// done clears the progress line.
func (p *progress) done() {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.drawn {
		fmt.Fprint(p.w, "\r\033[K")
	}
}
