package main

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/nslab/nslab/lab"
)

// isTerminal reports whether f is a terminal.
func isTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// How often progress is drawn: on a terminal one line is rewritten at
// most every termEvery; elsewhere (a pipe, a log) a plain line is written
// at most every plainEvery, the first only after plainEvery, so that a
// short up writes none.
const (
	termEvery  = 100 * time.Millisecond
	plainEvery = 10 * time.Second
)

// progress shows how far a long up or down is, with the time left: on a
// terminal one line rewritten in place, elsewhere a plain line every few
// seconds.
type progress struct {
	mu    sync.Mutex
	w     io.Writer
	term  bool
	now   func() time.Time
	start time.Time
	last  time.Time // last drawn
	rep   lab.Progress
	at    time.Time // when rep came
	drawn bool
	stop  chan struct{}
	wg    sync.WaitGroup
}

// newProgress returns the progress of a command on stderr, or nil with
// quiet.
func newProgress(quiet bool) *progress {
	if quiet {
		return nil
	}
	p := newProgressTo(os.Stderr, isTerminal(os.Stderr), time.Now)
	if p.term {
		// Redrawn every second between reports, so that the time left
		// counts down while one long operation runs.
		p.wg.Go(func() {
			t := time.NewTicker(time.Second)
			defer t.Stop()
			for {
				select {
				case <-p.stop:
					return
				case <-t.C:
					p.redraw()
				}
			}
		})
	}
	return p
}

func newProgressTo(w io.Writer, term bool, now func() time.Time) *progress {
	return &progress{w: w, term: term, now: now, start: now(), stop: make(chan struct{})}
}

// update is a lab.Options.Progress function; a nil progress ignores it.
func (p *progress) update(r lab.Progress) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.rep, p.at = r, p.now()
	p.draw(false)
}

// redraw draws the last report again, its time left less the time since.
func (p *progress) redraw() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.at.IsZero() {
		p.draw(true)
	}
}

// draw writes the last report, if it is time to.
func (p *progress) draw(force bool) {
	now := p.now()
	every := termEvery
	if !p.term {
		every = plainEvery
		if p.last.IsZero() {
			p.last = p.start
		}
	}
	if now.Sub(p.last) < every && !(force && p.term) {
		return
	}
	if p.rep.Done >= p.rep.Total && !p.term {
		return
	}
	p.last = now
	r := p.rep
	since := now.Sub(p.at)
	r.Elapsed += since
	if r.Left > 0 {
		r.Left = max(r.Left-since, time.Nanosecond)
	}
	if p.term {
		fmt.Fprint(p.w, "\r\033[K"+progressLine(r))
		p.drawn = true
		return
	}
	fmt.Fprintln(p.w, "nslab: "+progressLine(r))
}

// progressLine formats one progress report.
func progressLine(r lab.Progress) string {
	line := fmt.Sprintf("%-10s %d/%d ops  %s", r.Stage, r.Done, r.Total, r.Elapsed.Round(100*time.Millisecond))
	if r.Left > 0 && r.Done < r.Total {
		line += fmt.Sprintf("  about %s left", roundLeft(r.Left))
	}
	return line
}

// roundLeft rounds an estimate to what it is worth: seconds, or ten
// seconds past a minute.
func roundLeft(d time.Duration) time.Duration {
	if d > time.Minute {
		return max(d.Round(10*time.Second), 10*time.Second)
	}
	return max(d.Round(time.Second), time.Second)
}

// done stops the progress and clears its line.
func (p *progress) done() {
	if p == nil {
		return
	}
	close(p.stop)
	p.wg.Wait()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.drawn {
		fmt.Fprint(p.w, "\r\033[K")
	}
}
