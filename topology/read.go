package topology

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"
)

// Idle is how long ReadFile waits for a FIFO or a device that sends
// nothing (a FIFO no one writes to, a terminal no one types at) before it
// refuses it.
var Idle = 5 * time.Second

// Stdin is the path that names standard input.
const Stdin = "-"

// ReadFile reads a topology file, refusing one larger than MaxFileSize
// before reading it (and stopping a stream such as /dev/zero there).
func ReadFile(path string) ([]byte, error) {
	return ReadFileContext(context.Background(), path)
}

// ReadFileContext is ReadFile that stops when ctx is done. A path of "-"
// reads standard input, for as long as it takes. A FIFO (a pipe, as in
// nslab up <(nslab gen star)) or a device is read as it comes, but one
// that sends nothing for Idle (a FIFO without a writer, say) is refused:
// opening or reading it would otherwise wait forever.
func ReadFileContext(ctx context.Context, path string) ([]byte, error) {
	if path == Stdin {
		data, err := readStream(ctx, os.Stdin, path, 0, 0)
		var el ErrorList
		if errors.As(err, &el) {
			return nil, err
		}
		if err != nil {
			return nil, fmt.Errorf("reading topology from standard input: %w", err)
		}
		return data, nil
	}
	f, err := openNonblock(path)
	if ue := unreadable(path, err); ue != nil {
		return nil, ue
	}
	if err != nil {
		return nil, fmt.Errorf("reading topology: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("reading topology: %w", err)
	}
	if fi.IsDir() {
		return nil, fmt.Errorf("reading topology: %s is a directory: give the topology file (YAML) itself", path)
	}
	// A regular file of size 0 may be a kernel file that waits for data
	// (/proc/kmsg) rather than an empty one: it is read as a stream.
	if fi.Mode().IsRegular() && fi.Size() > 0 {
		if fi.Size() > MaxFileSize {
			return nil, tooLarge(path, fi.Size())
		}
		return readAll(path, f)
	}
	// A FIFO ends when its writer closes it; a kernel file or a device
	// may send now and then and never end: it has Idle in all.
	var total time.Duration
	if fi.Mode()&os.ModeNamedPipe == 0 {
		total = Idle
	}
	data, err := readStream(ctx, f, path, Idle, total)
	var idle *idleError
	var endless *endlessError
	var el ErrorList
	if errors.As(err, &el) {
		return nil, err
	}
	if errors.As(err, &idle) {
		why := "no one writes to it"
		if fi.Mode().IsRegular() {
			why = "a kernel file that waits for data"
		}
		return nil, fmt.Errorf("reading topology: %s is %s that sent nothing for %v (%s): give a regular file, or - for standard input", path, fileKind(fi.Mode()), idle.after, why)
	}
	if errors.As(err, &endless) {
		return nil, fmt.Errorf("reading topology: %s is %s that sent %d bytes in %v and no end (a kernel file or device that streams): give a regular file, or - for standard input", path, fileKind(fi.Mode()), endless.got, endless.after)
	}
	if err != nil {
		return nil, fmt.Errorf("reading topology: %s: %w", path, err)
	}
	return data, nil
}

func readAll(path string, r io.Reader) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("reading topology: %w", err)
	}
	if len(data) > MaxFileSize {
		return nil, tooLarge(path, int64(len(data)))
	}
	return data, nil
}

// idleError says that a stream sent nothing for after.
type idleError struct{ after time.Duration }

// endlessError says a stream kept sending past its time: got bytes in
// after.
type endlessError struct {
	after time.Duration
	got   int
}

func (e *endlessError) Error() string {
	return fmt.Sprintf("%d bytes in %v and no end", e.got, e.after)
}

func (e *idleError) Error() string { return fmt.Sprintf("nothing came for %v", e.after) }

func fileKind(m os.FileMode) string {
	switch {
	case m&os.ModeNamedPipe != 0:
		return "a FIFO"
	case m&os.ModeCharDevice != 0:
		return "a character device"
	case m&os.ModeDevice != 0:
		return "a block device"
	case m&os.ModeSocket != 0:
		return "a socket"
	}
	if m.IsRegular() {
		return "a file of size 0"
	}
	return "not a regular file and"
}
