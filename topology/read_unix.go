//go:build unix

package topology

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// openNonblock opens path for reading without waiting for a writer, as
// opening a FIFO would.
func openNonblock(path string) (*os.File, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	return os.NewFile(uintptr(fd), path), nil
}

// readStream reads f to its end, or up to MaxFileSize+1 bytes, waiting
// for data with poll(2) in short slices so that ctx ends the wait at once
// (a blocking read cannot be interrupted from Go); idle, when not 0,
// bounds how long it waits with nothing coming, and total, when not 0,
// how long it reads in all (a kernel file such as /proc/kmsg sends a line
// now and then and never ends). f may be blocking (standard input, whose
// mode nslab shares with the shell) or not.
func readStream(ctx context.Context, f *os.File, path string, idle, total time.Duration) ([]byte, error) {
	fd := int(f.Fd())
	var data []byte
	buf := make([]byte, 64<<10)
	start := time.Now()
	last := start
	// A FIFO opened without waiting (openNonblock) tells whether someone
	// holds its other end: a read gives EAGAIN then, and 0 when no one
	// does. Only a FIFO without a writer is idle; one whose writer is slow
	// to send (nslab up <(a generator that thinks first)) is waited for.
	fifo := false
	if idle > 0 {
		var st unix.Stat_t
		fl, _ := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
		fifo = unix.Fstat(fd, &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFIFO && fl&unix.O_NONBLOCK != 0
	}
	writer := false // a writer was seen: a read of 0 is the end
	for {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("stopped while waiting for it to send: %w", err)
		}
		if total > 0 && time.Since(start) > total {
			return nil, &endlessError{after: total, got: len(data)}
		}
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		n, err := unix.Poll(fds, 50)
		if err != nil && !errors.Is(err, unix.EINTR) {
			return nil, err
		}
		if n == 0 || err != nil {
			if fifo && !writer {
				// (A read of 0 bytes returns 0 at once: it must ask for some.)
				m, rerr := unix.Read(fd, buf)
				switch {
				case errors.Is(rerr, unix.EAGAIN):
					writer = true // someone holds it open: wait for them
				case rerr == nil && m > 0: // came since the poll
					data = append(data, buf[:m]...)
					last, writer = time.Now(), true
				}
			}
			if idle > 0 && !writer && time.Since(last) > idle {
				return nil, &idleError{after: idle}
			}
			continue
		}
		m, err := unix.Read(fd, buf)
		switch {
		case fifo && errors.Is(err, unix.EAGAIN):
			writer = true
			continue
		case errors.Is(err, unix.EAGAIN), errors.Is(err, unix.EINTR):
			// Readable by poll, yet nothing to read (/proc/kmsg does
			// that): as idle as a poll that times out.
			if idle > 0 && time.Since(last) > idle {
				return nil, &idleError{after: idle}
			}
			time.Sleep(50 * time.Millisecond)
			continue
		case err != nil:
			return nil, err
		case m == 0:
			if len(data) > MaxFileSize {
				return nil, tooLarge(path, int64(len(data)))
			}
			return data, nil
		}
		data = append(data, buf[:m]...)
		last, writer = time.Now(), fifo
		if len(data) > MaxFileSize {
			return nil, tooLarge(path, int64(len(data)))
		}
	}
}
