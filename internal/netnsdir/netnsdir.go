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
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

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
	if err := os.WriteFile(recordFile(state), data, 0o644); err != nil {
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
// to fail rather than wait). A holder may remove the file before it
// unlocks; a waiter that then wakes up on the removed file tries again
// with a fresh one.
func LockFile(path string, how int) (*os.File, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("creating %s: %w", filepath.Dir(path), err)
	}
	for {
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
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
			return f, nil
		}
		f.Close()
	}
}

func sameFile(f *os.File, path string) bool {
	a, err1 := f.Stat()
	b, err2 := os.Stat(path)
	return err1 == nil && err2 == nil && os.SameFile(a, b)
}
