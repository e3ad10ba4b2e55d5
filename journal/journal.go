package journal

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"
)

// Sources of events.
const (
	FromNslab      = "nslab"      // a command or the library changed the lab
	FromKernel     = "kernel"     // a netlink notification
	FromSupervisor = "supervisor" // the services supervisor
)

// Event is one line of the journal. Time comes first in the line, which
// is how a reader finds where a line begins after a torn one.
type Event struct {
	Time   time.Time `json:"time"`
	Lab    string    `json:"lab"`
	Kind   string    `json:"kind"`
	Source string    `json:"source,omitempty"`
	Node   string    `json:"node,omitempty"`
	Iface  string    `json:"iface,omitempty"`
	// Service is NODE/SERVICE for the supervisor's events.
	Service string `json:"service,omitempty"`
	PID     int    `json:"pid,omitempty"`
	// Detail says more, in words: the groups of a partition, a shape,
	// an address or a route.
	Detail string `json:"detail,omitempty"`
}

// String renders the event for people, one line without the time.
func (e Event) String() string {
	var b strings.Builder
	b.WriteString(e.Lab)
	b.WriteString(" ")
	b.WriteString(e.Kind)
	switch {
	case e.Node != "" && e.Iface != "":
		fmt.Fprintf(&b, " %s:%s", e.Node, e.Iface)
	case e.Node != "":
		fmt.Fprintf(&b, " %s", e.Node)
	case e.Iface != "":
		fmt.Fprintf(&b, " %s", e.Iface)
	}
	if e.Service != "" {
		fmt.Fprintf(&b, " %s", e.Service)
	}
	if e.PID != 0 {
		fmt.Fprintf(&b, " pid %d", e.PID)
	}
	if e.Detail != "" {
		fmt.Fprintf(&b, " %s", e.Detail)
	}
	if e.Source != "" && e.Source != FromNslab {
		fmt.Fprintf(&b, " (%s)", e.Source)
	}
	return b.String()
}

// Append writes e as one line at the end of the journal at path, making
// the file (0600) if needed. A zero Time is now. One write on an O_APPEND
// file: lines of processes writing at once do not mix.
func Append(path string, e Event) error {
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	e.Time = e.Time.UTC()
	line, err := json.Marshal(e)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	_, err = f.Write(append(line, '\n'))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("journal %s: %w", path, err)
	}
	return nil
}

// lineStart is how every line begins: a reader that cannot parse a line
// (a killed writer's torn one, then the next writer's whole one) looks
// for the last line start in it.
var lineStart = []byte(`{"time":`)

// Parse reads one line. A line that holds the torn start of another
// before a whole event gives that event; a line that holds no whole event
// is an error.
func Parse(line []byte) (Event, error) {
	var e Event
	line = bytes.TrimSpace(line)
	err := json.Unmarshal(line, &e)
	if err == nil {
		return e, nil
	}
	if i := bytes.LastIndex(line, lineStart); i > 0 {
		if json.Unmarshal(line[i:], &e) == nil {
			return e, nil
		}
	}
	return Event{}, fmt.Errorf("journal: a torn or foreign line: %.60q", line)
}

// Read returns the events of r in their order, skipping the lines that
// are not events (torn ones), and the offset just after the last whole
// line: a line without its newline yet is left for a later read.
func Read(r io.Reader) (events []Event, n int64, err error) {
	br := bufio.NewReaderSize(r, 64<<10)
	for {
		line, err := br.ReadBytes('\n')
		if len(line) > 0 && line[len(line)-1] == '\n' {
			n += int64(len(line))
			if e, perr := Parse(line); perr == nil {
				events = append(events, e)
			}
		}
		if err == io.EOF {
			return events, n, nil
		}
		if err != nil {
			return events, n, err
		}
	}
}

// ReadFile reads the journal at path; a missing file has no events.
func ReadFile(path string) ([]Event, error) {
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	ev, _, err := Read(f)
	return ev, err
}

// Sort orders events by time, keeping the order of equal times.
func Sort(ev []Event) {
	sort.SliceStable(ev, func(i, j int) bool { return ev[i].Time.Before(ev[j].Time) })
}

// Tail follows a journal file from an offset: each Poll returns the whole
// lines appended since the last. The file is opened once and kept open,
// so a journal removed with its lab (nslab down) is still read to its
// end; a file that appears later is opened when it does.
type Tail struct {
	Path string
	f    *os.File
	off  int64
}

// NewTail follows path from offset off (0: from the start).
func NewTail(path string, off int64) *Tail { return &Tail{Path: path, off: off} }

// Poll returns the events appended since the last Poll.
func (t *Tail) Poll() ([]Event, error) {
	if t.f == nil {
		f, err := os.Open(t.Path)
		if os.IsNotExist(err) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		t.f = f
	}
	if fi, err := t.f.Stat(); err == nil && fi.Size() < t.off {
		t.off = 0 // the file was made anew (a lab brought up again)
	}
	ev, n, err := Read(io.NewSectionReader(t.f, t.off, 1<<62))
	t.off += n
	if err != nil {
		return ev, err
	}
	// A journal removed and made anew (the lab taken down and brought up
	// again): the old one is read to its end above, then the new one.
	if now, serr := os.Stat(t.Path); serr == nil {
		if fi, ferr := t.f.Stat(); ferr == nil && !os.SameFile(fi, now) {
			t.Reopen()
			more, err := t.Poll()
			return append(ev, more...), err
		}
	}
	return ev, nil
}

// Reopen makes the next Poll open the path again (a lab made anew has a
// new journal there), reading it from its start.
func (t *Tail) Reopen() {
	if t.f != nil {
		t.f.Close()
	}
	t.f, t.off = nil, 0
}

// Close closes the file.
func (t *Tail) Close() error {
	if t.f == nil {
		return nil
	}
	return t.f.Close()
}

// Follow calls fn with each event appended to path from offset off on,
// polling every interval, until ctx is done.
func Follow(ctx context.Context, path string, off int64, every time.Duration, fn func(Event)) error {
	t := NewTail(path, off)
	defer t.Close()
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		ev, err := t.Poll()
		if err != nil {
			return err
		}
		for _, e := range ev {
			fn(e)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}
