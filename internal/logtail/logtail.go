// Package logtail reads a service's log as tail -n and tail -F do: the
// last lines of the file and of its rotated predecessor (FILE.1), and
// what is appended later, across rotations, whether the writer's file is
// truncated after a copy (what a supervisor must do, as the service holds
// the file open) or renamed and made anew.
//
// A copy may hold the whole log or only its end (the supervisor keeps
// the last cap bytes): what was written after the follower's last look
// and before the copy is found in the copy after the last bytes the
// follower read.
package logtail

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"syscall"
	"time"
)

// Rotated is the rotated predecessor of the log at path.
func Rotated(path string) string { return path + ".1" }

// ErrRemoved is returned by Follow when the log is gone for good (its
// lab was taken down).
var ErrRemoved = errors.New("the log was removed")

// Last returns the last n lines of the log at path (all of them when n
// is negative), taking the older ones from its rotated predecessor when
// the log holds fewer, but the predecessor's first line (the supervisor
// keeps the log's last bytes, which begin inside a line). A log that
// does not exist has no lines.
func Last(path string, n int) ([]string, error) {
	lines, _, err := lastUpTo(path, -1, n)
	return lines, err
}

// lastUpTo returns the last n lines of the first size bytes of path (all
// of it when size < 0) with the rotated file's before them, and how many
// bytes of path it read.
func lastUpTo(path string, size int64, n int) ([]string, int64, error) {
	data, size, err := tailBytes(path, size, n)
	if err != nil {
		return nil, 0, err
	}
	lines := split(data)
	if n < 0 || len(lines) < n {
		old, osize, err := tailBytes(Rotated(path), -1, n-len(lines))
		if err != nil {
			return nil, 0, err
		}
		ol := split(old)
		if int64(len(old)) == osize && len(ol) > 0 {
			// The rotated file keeps the log's last bytes, from inside a
			// line: its first line is a part of one.
			ol = ol[1:]
		}
		lines = append(ol, lines...)
	}
	return lines, size, nil
}

// tailBytes reads the end of the first size bytes of a file (size < 0:
// all of it) back to the start of its n-th last line; a missing file is
// empty.
func tailBytes(path string, size int64, n int) ([]byte, int64, error) {
	if n == 0 {
		return nil, max(size, 0), nil
	}
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	if size < 0 {
		fi, err := f.Stat()
		if err != nil {
			return nil, 0, err
		}
		size = fi.Size()
	}
	if n < 0 {
		buf := make([]byte, size)
		k, err := f.ReadAt(buf, 0)
		if err != nil && err != io.EOF {
			return nil, 0, err
		}
		return buf[:k], size, nil
	}
	// Chunks are read from the end back until they hold n newlines before
	// the last line's end, and joined once: each one is read and counted
	// once.
	const chunk = 64 << 10
	var chunks [][]byte
	total, newlines := 0, 0
	for pos := size; pos > 0 && newlines < n; {
		step := min(pos, chunk)
		pos -= step
		b := make([]byte, step)
		if _, err := f.ReadAt(b, pos); err != nil && err != io.EOF {
			return nil, 0, err
		}
		counted := b
		if pos+step == size {
			counted = bytes.TrimSuffix(b, []byte("\n"))
		}
		newlines += bytes.Count(counted, []byte("\n"))
		chunks = append(chunks, b)
		total += len(b)
	}
	buf := make([]byte, 0, total)
	for i := len(chunks) - 1; i >= 0; i-- {
		buf = append(buf, chunks[i]...)
	}
	body := bytes.TrimSuffix(buf, []byte("\n"))
	cut := len(body)
	for k := 0; k < n && cut >= 0; k++ {
		cut = bytes.LastIndexByte(body[:cut], '\n')
	}
	if cut >= 0 {
		buf = buf[cut+1:]
	}
	return buf, size, nil
}

// split cuts text into lines; a last line without its newline counts.
func split(b []byte) []string {
	b = bytes.TrimSuffix(b, []byte("\n"))
	if len(b) == 0 {
		return nil
	}
	parts := bytes.Split(b, []byte("\n"))
	out := make([]string, len(parts))
	for i, p := range parts {
		out[i] = string(p)
	}
	return out
}

// Follower follows one log.
type Follower struct {
	path string
	// Interval is the time between looks at the file (100 ms unless set).
	Interval time.Duration
	// Gone is how long the log may be missing before Follow returns
	// ErrRemoved (2 s unless set): a rename rotation leaves it missing
	// for a moment.
	Gone time.Duration

	f       *os.File
	ino     uint64
	rotIno  uint64 // the rotated file's inode: a new one means a rotation
	off     int64
	tail    []byte // the last bytes read, up to off: found again in a copy
	partial []byte
	missing time.Time
	seen    bool // the log existed once
}

// tailKeep is how many of the last bytes read are kept to find the place
// in a rotated copy.
const tailKeep = 4096

// New returns a follower of the log at path.
func New(path string) *Follower { return &Follower{path: path} }

// Follow emits the last n lines of the log (all of them when n is
// negative; none when 0), then every line appended to it, until ctx ends
// (nil) or the log is removed for good (ErrRemoved; a log that does not
// exist yet is waited for). Lines are emitted whole: a line still being
// written waits for its newline, or for the end.
func (fl *Follower) Follow(ctx context.Context, n int, emit func(string)) error {
	if fl.Interval == 0 {
		fl.Interval = 100 * time.Millisecond
	}
	if fl.Gone == 0 {
		fl.Gone = 2 * time.Second
	}
	defer fl.close(emit)
	if err := fl.start(n, emit); err != nil {
		return err
	}
	t := time.NewTicker(fl.Interval)
	defer t.Stop()
	for {
		if err := fl.poll(emit); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			fl.poll(emit)
			return nil
		case <-t.C:
		}
	}
}

// start opens the log and emits its last n lines.
func (fl *Follower) start(n int, emit func(string)) error {
	if fi, err := os.Stat(Rotated(fl.path)); err == nil {
		fl.rotIno = inode(fi)
	}
	if err := fl.open(); err != nil {
		return err
	}
	size := int64(0)
	if fl.f != nil {
		fi, err := fl.f.Stat()
		if err != nil {
			return err
		}
		size = fi.Size()
	}
	// A last line still being written is kept back until it ends.
	unfinished := size > 0 && !endsWithNewline(fl.f, size)
	want := n
	if unfinished && n >= 0 {
		want = n + 1
	}
	lines, read, err := lastUpTo(fl.path, size, want)
	if err != nil {
		return err
	}
	if unfinished && len(lines) > 0 {
		fl.partial = []byte(lines[len(lines)-1])
		lines = lines[:len(lines)-1]
	}
	for _, l := range lines {
		emit(l)
	}
	fl.off = read
	fl.tail = fl.readAt(max(0, read-tailKeep), read)
	return nil
}

func endsWithNewline(f *os.File, size int64) bool {
	if f == nil {
		return true
	}
	b := make([]byte, 1)
	_, err := f.ReadAt(b, size-1)
	return err == nil && b[0] == '\n'
}

// readAt reads bytes [from, to) of the open file.
func (fl *Follower) readAt(from, to int64) []byte {
	if fl.f == nil || to <= from {
		return nil
	}
	b := make([]byte, to-from)
	n, _ := fl.f.ReadAt(b, from)
	return b[:n]
}

// open opens the log when it exists; a missing log is not an error.
func (fl *Follower) open() error {
	f, err := os.Open(fl.path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return err
	}
	fl.f, fl.ino, fl.off, fl.tail, fl.seen = f, inode(fi), 0, nil, true
	return nil
}

// poll emits what was appended since the last look, and follows a
// rotation.
func (fl *Follower) poll(emit func(string)) error {
	fi, err := os.Stat(fl.path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		// Renamed away, or removed: what the old file still gets is read
		// until the new one appears.
		if fl.missing.IsZero() {
			fl.missing = time.Now()
		}
		fl.drain(emit)
		if fl.seen && time.Since(fl.missing) > fl.Gone {
			return ErrRemoved
		}
		return nil
	case err != nil:
		return err
	}
	fl.missing = time.Time{}
	switch {
	case fl.f == nil || inode(fi) != fl.ino:
		// A new file under the name: finish the old one, start the new
		// one from its beginning.
		fl.drain(emit)
		fl.flush(emit)
		if fl.f != nil {
			fl.f.Close()
			fl.f = nil
		}
		if err := fl.open(); err != nil {
			return err
		}
		if rot, err := os.Stat(Rotated(fl.path)); err == nil {
			fl.rotIno = inode(rot)
		}
	case fl.truncated(fi.Size()):
		// Emptied (and perhaps written again since): what was written
		// after our last look and before a copy is in the copy. A line
		// unfinished at the copy's end goes on at the start of the
		// emptied log (the writer's next bytes land there): it is kept,
		// not emitted as a line of its own (seq's 4 KiB writes split
		// 184147 into "184" and "147").
		fl.fromRotated(emit)
		fl.off, fl.tail = 0, nil
	}
	fl.drain(emit)
	return nil
}

// truncated tells whether the log was emptied since the last look: it
// is shorter than what was read, or the bytes before the offset are not
// those read (it grew past the offset again), or, nothing read yet, a new
// rotated file is longer than the log. A look between a copy and the
// truncation finds the log whole and goes on reading it.
func (fl *Follower) truncated(size int64) bool {
	if size < fl.off {
		return true
	}
	if fl.off > 0 {
		return !bytes.Equal(fl.readAt(fl.off-int64(len(fl.tail)), fl.off), fl.tail)
	}
	rot, err := os.Stat(Rotated(fl.path))
	return err == nil && inode(rot) != fl.rotIno && size < rot.Size()
}

// fromRotated emits what a new rotated file holds past the last bytes
// read; when they are not in it (the follower fell behind by more than
// the copy holds), all of it from its first whole line.
func (fl *Follower) fromRotated(emit func(string)) {
	path := Rotated(fl.path)
	fi, err := os.Stat(path)
	if err != nil || inode(fi) == fl.rotIno {
		return // no copy made: emptied by hand
	}
	fl.rotIno = inode(fi)
	b, err := os.ReadFile(path)
	if err != nil {
		return
	}
	if len(fl.tail) == 0 && len(fl.partial) == 0 {
		// Nothing read yet: all of it is new, but its first line, a part
		// of one (the copy is the log's end).
		if j := bytes.IndexByte(b, '\n'); j >= 0 {
			b = b[j+1:]
		}
		fl.lines(b, emit)
		return
	}
	const keyLen = 256
	key := fl.tail[max(0, len(fl.tail)-keyLen):]
	if i := bytes.LastIndex(b, key); i >= 0 {
		fl.lines(b[i+len(key):], emit) // the copy holds our place
		return
	}
	// The copy may begin inside the last bytes read.
	for k := min(len(b), len(key)-1); k >= 8; k-- {
		if bytes.HasSuffix(fl.tail, b[:k]) {
			fl.lines(b[k:], emit)
			return
		}
	}
	if end := b[max(0, len(b)-keyLen):]; len(end) > 0 && bytes.Contains(fl.tail, end) {
		return // read past the copy's end already (a look between the copy and the truncation)
	}
	// Our place is gone (fell behind by more than the copy holds): go on
	// from a line's beginning; the rest of an unfinished line is lost,
	// and its part is not a line.
	fl.partial = nil
	if j := bytes.IndexByte(b, '\n'); j >= 0 {
		b = b[j+1:]
	}
	fl.lines(b, emit)
}

// drain reads the open file from the offset to its end.
func (fl *Follower) drain(emit func(string)) {
	if fl.f == nil {
		return
	}
	if _, err := fl.f.Seek(fl.off, io.SeekStart); err != nil {
		return
	}
	b, _ := io.ReadAll(fl.f)
	fl.off += int64(len(b))
	fl.tail = append(fl.tail, b...)
	if len(fl.tail) > tailKeep {
		fl.tail = append([]byte(nil), fl.tail[len(fl.tail)-tailKeep:]...)
	}
	fl.lines(b, emit)
}

// lines emits the whole lines of partial+b and keeps the rest.
func (fl *Follower) lines(b []byte, emit func(string)) {
	fl.partial = append(fl.partial, b...)
	for {
		i := bytes.IndexByte(fl.partial, '\n')
		if i < 0 {
			return
		}
		emit(string(fl.partial[:i]))
		fl.partial = fl.partial[i+1:]
	}
}

// flush emits an unfinished last line.
func (fl *Follower) flush(emit func(string)) {
	if len(fl.partial) > 0 {
		emit(string(fl.partial))
		fl.partial = nil
	}
}

func (fl *Follower) close(emit func(string)) {
	fl.flush(emit)
	if fl.f != nil {
		fl.f.Close()
	}
}

func inode(fi os.FileInfo) uint64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return st.Ino
	}
	return 0
}
