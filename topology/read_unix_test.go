//go:build unix

package topology

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestReadStreamEndless: a stream that sends a line now and then and
// never ends (/proc/kmsg while the kernel logs, as it does when labs are
// built beside) is refused once its time is up; before, only silence
// ended the read, so a kernel file that kept talking was read on and on
// (validate /proc/kmsg took 9.6 s under a test run, against 5).
func TestReadStreamEndless(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		defer w.Close()
		for {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
				w.Write([]byte("kernel: a line\n"))
			}
		}
	}()
	start := time.Now()
	_, err = readStream(context.Background(), r, "kmsg", 300*time.Millisecond, 600*time.Millisecond)
	var endless *endlessError
	if !errors.As(err, &endless) || endless.got == 0 {
		t.Fatalf("readStream of an endless trickle: %v, want an endlessError with the bytes read", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("refused after %v, want about 600ms", took)
	}

	// Without a total (a FIFO), the same trickle is read until it ends.
	r2, w2, _ := os.Pipe()
	defer r2.Close()
	go func() {
		for range 20 {
			w2.Write([]byte("x\n"))
			time.Sleep(50 * time.Millisecond)
		}
		w2.Close()
	}()
	data, err := readStream(context.Background(), r2, "fifo", 300*time.Millisecond, 0)
	if err != nil || len(data) != 40 {
		t.Errorf("a FIFO's trickle of 1 s: %d bytes, %v; want 40 bytes", len(data), err)
	}
}

// TestFIFOSlowWriter: a FIFO whose writer holds it open and sends only
// after longer than Idle (bash's <(a generator that thinks first)) is
// read, not refused; one that no one opens still is. Before, nslab
// validate <(sleep 7; nslab gen star) was refused after 5 s as "a FIFO
// that sent nothing for 5s (no one writes to it)".
func TestFIFOSlowWriter(t *testing.T) {
	defer func(d time.Duration) { Idle = d }(Idle)
	Idle = 300 * time.Millisecond
	fifo := filepath.Join(t.TempDir(), "lab.yaml")
	if err := unix.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	go func() {
		f, err := os.OpenFile(fifo, os.O_WRONLY, 0) // waits for the reader
		if err != nil {
			return
		}
		defer f.Close()
		time.Sleep(4 * Idle)
		f.WriteString("name: slow\nnodes:\n  a: {}\n")
	}()
	data, err := ReadFile(fifo)
	if err != nil || !strings.Contains(string(data), "name: slow") {
		t.Fatalf("a FIFO whose writer is slow: %q, %v", data, err)
	}

	start := time.Now()
	_, err = ReadFile(fifo) // no writer now
	if err == nil || !strings.Contains(err.Error(), "no one writes to it") {
		t.Errorf("a FIFO without a writer: %v", err)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("refused after %v, want about %v", took, Idle)
	}
}
