// Package netnsdir shares /run/netns between the processes that name
// namespaces there: nslab's ups and downs, and tests that make namespaces
// of their own.
//
// Like ip netns add, nslab makes /run/netns a shared mount point (and
// the directory, on a fresh machine). Unlike ip, it takes both back when
// the last namespace is gone, so that down leaves the mount table as up
// found it. What was made is recorded in STATE/.netns-dir.json; makers
// hold STATE/.locks/.netns-dir shared while they name namespaces, and
// Release takes it exclusively without waiting, so that it never
// unmounts under a maker.
package netnsdir

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/nslab/nslab/kernel"
	"golang.org/x/sys/unix"
)

func recordFile(state string) string { return filepath.Join(state, ".netns-dir.json") }
func lockPath(state string) string   { return filepath.Join(state, ".locks", ".netns-dir") }
func prepPath(state string) string   { return filepath.Join(state, ".locks", ".netns-prep") }

// Hold prepares /run/netns for naming namespaces and records under the
// state directory what it made; the caller calls the returned func when
// its namespaces are named.
//
// Holders share the lock, which a Release takes exclusively and only
// when free, so a holder never waits on another (a process may hold it
// twice: a test that builds labs). Preparing is serialised by a second
// lock, held for nothing else, so that two holders do not both find
// /run/netns unmounted and stack two mounts.
func Hold(state string) (func(), error) {
	f, err := LockFile(lockPath(state), unix.LOCK_SH)
	if err != nil {
		return nil, err
	}
	if err := prepare(state); err != nil {
		f.Close()
		return nil, err
	}
	return func() { f.Close() }, nil
}

func prepare(state string) error {
	p, err := LockFile(prepPath(state), unix.LOCK_EX)
	if err != nil {
		return err
	}
	defer p.Close()
	made, err := kernel.PrepareNetnsDir()
	if err == nil && (made.Dir || made.Mount) {
		err = record(state, made)
	}
	return err
}

func record(state string, made kernel.NetnsDirMade) error {
	data, _ := json.Marshal(made)
	if err := os.WriteFile(recordFile(state), data, 0o600); err != nil {
		return fmt.Errorf("saving lab state: %w", err)
	}
	return nil
}

// Release undoes what was recorded as made of /run/netns, once no
// namespace is named there; it leaves it while anyone holds it or when it
// cannot.
func Release(state string) {
	f, err := LockFile(lockPath(state), unix.LOCK_EX|unix.LOCK_NB)
	if err != nil {
		return
	}
	defer f.Close()
	if data, err := os.ReadFile(recordFile(state)); err == nil {
		var made kernel.NetnsDirMade
		if json.Unmarshal(data, &made) == nil {
			if done, err := kernel.ReleaseNetnsDir(made); err != nil || !done {
				return
			}
		}
		os.Remove(recordFile(state))
	}
	// Holders take the main lock before the other, so no one is
	// preparing now.
	os.Remove(prepPath(state))
	os.Remove(lockPath(state))
}

// LockFile opens and flocks path (how: LOCK_EX or LOCK_SH, with LOCK_NB
// to fail rather than wait), making its directory (0700) and the file
// (0600) when missing: a lock that another user may open is a lock that
// another user may take. A holder may remove the file, and the directory
// with it, before it unlocks; a waiter that then wakes up on the removed
// file tries again with a fresh one.
func LockFile(path string, how int) (*os.File, error) {
	for tries := 0; ; tries++ {
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, fmt.Errorf("creating %s: %w", filepath.Dir(path), err)
		}
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
		if errors.Is(err, os.ErrNotExist) && tries < 100 {
			continue // the last holder removed the directory meanwhile
		}
		if err != nil {
			return nil, fmt.Errorf("opening lock %s: %w", path, err)
		}
		if err := unix.Flock(int(f.Fd()), how); err != nil {
			f.Close()
			if errors.Is(err, unix.EWOULDBLOCK) {
				return nil, err
			}
			return nil, fmt.Errorf("locking %s: %w", path, err)
		}
		if sameFile(f, path) {
			// A lock file of an older nslab may be world-readable.
			if fi, err := f.Stat(); err == nil && fi.Mode().Perm() != 0o600 {
				f.Chmod(0o600)
			}
			return f, nil
		}
		f.Close()
	}
}

// Lock is LockFile that waits until ctx is done: it polls, so that a
// signal stops the wait at once (a blocking flock cannot be interrupted
// from Go). busy, if set, is called once when the lock is held by
// another, with the holder as Holder describes it.
func Lock(ctx context.Context, path string, how int, busy func(holder string)) (*os.File, error) {
	holder := ""
	for delay := time.Millisecond; ; delay = min(2*delay, 20*time.Millisecond) {
		f, err := LockFile(path, how|unix.LOCK_NB)
		if !errors.Is(err, unix.EWOULDBLOCK) {
			return f, err
		}
		if holder == "" {
			holder = Holder(path)
			if busy != nil {
				busy(holder)
			}
		}
		select {
		case <-ctx.Done():
			return nil, &WaitError{Holder: holder, Err: ctx.Err()}
		case <-time.After(delay):
		}
	}
}

// WaitError is a wait for a lock that was given up.
type WaitError struct {
	Holder string
	Err    error
}

func (e *WaitError) Error() string {
	return fmt.Sprintf("stopped while waiting for the lock held by %s: %v", e.Holder, e.Err)
}

func (e *WaitError) Unwrap() error { return e.Err }

// Holder describes who holds the flock of path, as "pid 1234 (nslab up
// x.yaml)", from /proc/locks and the holder's command line; "another
// process" when it cannot tell (one of another PID namespace, say).
func Holder(path string) string {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return "another process"
	}
	data, _ := os.ReadFile("/proc/locks")
	return holderIn(string(data), fmt.Sprintf("%02x:%02x:%d", unix.Major(st.Dev), unix.Minor(st.Dev), st.Ino), cmdline)
}

// holderIn finds the holders of the lock on file id (MAJ:MIN:INODE as
// /proc/locks writes it) in locks, a copy of /proc/locks.
func holderIn(locks, id string, cmd func(pid string) string) string {
	var out []string
	for _, line := range strings.Split(locks, "\n") {
		f := strings.Fields(line)
		// "1: FLOCK  ADVISORY  WRITE 1234 00:1a:5678 0 EOF"; waiters have
		// "->" after the number.
		if len(f) < 6 || f[1] == "->" || f[5] != id || f[4] == "0" || f[4] == "-1" {
			continue
		}
		d := "pid " + f[4]
		if c := cmd(f[4]); c != "" {
			d += " (" + c + ")"
		}
		out = append(out, d)
	}
	if len(out) == 0 {
		return "another process"
	}
	return strings.Join(out, ", ")
}

// cmdline is the command line of a process, shortened to 200 bytes.
func cmdline(pid string) string {
	b, err := os.ReadFile("/proc/" + pid + "/cmdline")
	if err != nil {
		return ""
	}
	c := strings.TrimSpace(strings.ReplaceAll(string(b), "\x00", " "))
	if len(c) > 200 {
		c = c[:200] + "..."
	}
	return c
}

// Private makes the state directory and its lock directory when missing
// and takes access to them from other users (0700): nslab's state and
// locks are root's. Directories of an older nslab (0755) are tightened.
func Private(state string) error {
	for _, d := range []string{state, filepath.Dir(lockPath(state))} {
		if err := privateDir(d); err != nil {
			return err
		}
	}
	return nil
}

// privateDir makes dir 0700, creating it when missing.
func privateDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("creating %s: %w", dir, err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("creating %s: %w", dir, err)
	}
	if fi.Mode().Perm() != 0o700 {
		if err := os.Chmod(dir, 0o700); err != nil {
			return fmt.Errorf("making %s private: %w", dir, err)
		}
	}
	return nil
}

func sameFile(f *os.File, path string) bool {
	a, err1 := f.Stat()
	b, err2 := os.Stat(path)
	return err1 == nil && err2 == nil && os.SameFile(a, b)
}
