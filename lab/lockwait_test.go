package lab_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/nslab/nslab/internal/netnsdir"
	"github.com/nslab/nslab/lab"
	"github.com/nslab/nslab/nslabtest"
	"github.com/nslab/nslab/topology"
)

// TestUpStoppedWhileWaitingIsCancelled: an up whose context ends while
// it waits for the lab's lock says so, and its error is the context's
// (errors.Is), so that a caller can tell a cancel from a failure.
func TestUpStoppedWhileWaitingIsCancelled(t *testing.T) {
	nslabtest.RequireRoot(t)
	name := nslabtest.Name("lw")
	nslabtest.CheckLeaksAtEnd(t, name)
	f, err := netnsdir.LockFile(filepath.Join(lab.StateDir, ".locks", name), unix.LOCK_EX)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lab.Down(context.Background(), name, lab.Options{}) })
	defer f.Close()
	tl, err := topology.Parse(name+".yaml", []byte("name: "+name+"\nnodes:\n  a: {}\n"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	err = lab.Up(ctx, tl, nil, lab.Options{})
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "stopped while waiting for its lock") {
		t.Errorf("up while the lab's lock is held, until a deadline: %v", err)
	}
}
