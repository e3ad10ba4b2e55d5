package lab

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/nslab/nslab/kernel"
	"golang.org/x/sys/unix"
)

// Like ip netns add, nslab makes /run/netns a shared mount point (and
// the directory, on a fresh machine). Unlike ip, it takes both back when
// the last namespace is gone, so that down leaves the mount table as up
// found it. What nslab made is recorded in netnsDirFile; ups hold
// netnsDirLock shared while they name namespaces, and the release takes
// it exclusively without waiting, so that it never unmounts under an up.

func netnsDirFile() string { return filepath.Join(StateDir, ".netns-dir.json") }
func netnsDirLock() string { return filepath.Join(StateDir, ".locks", ".netns-dir") }

// holdNetnsDir prepares /run/netns for an up and records what it made;
// the up calls the returned func when its namespaces are named.
func holdNetnsDir() (func(), error) {
	f, err := lockFile(netnsDirLock(), unix.LOCK_SH)
	if err != nil {
		return nil, err
	}
	made, err := kernel.PrepareNetnsDir()
	if err == nil && (made.Dir || made.Mount) {
		err = recordNetnsDir(made)
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return func() { f.Close() }, nil
}

func recordNetnsDir(made kernel.NetnsDirMade) error {
	data, _ := json.Marshal(made)
	if err := os.WriteFile(netnsDirFile(), data, 0o644); err != nil {
		return fmt.Errorf("saving lab state: %w", err)
	}
	return nil
}

// releaseNetnsDir undoes what nslab made of /run/netns once no namespace
// is named there; it leaves it while any up works or when it cannot.
func releaseNetnsDir() {
	data, err := os.ReadFile(netnsDirFile())
	if err != nil {
		return
	}
	var made kernel.NetnsDirMade
	if json.Unmarshal(data, &made) != nil {
		os.Remove(netnsDirFile())
		return
	}
	f, err := lockFile(netnsDirLock(), unix.LOCK_EX|unix.LOCK_NB)
	if err != nil {
		return
	}
	defer f.Close()
	if done, err := kernel.ReleaseNetnsDir(made); err == nil && done {
		os.Remove(netnsDirFile())
		os.Remove(netnsDirLock())
	}
}

// lockFile opens and flocks path (how: LOCK_EX or LOCK_SH, with LOCK_NB
// to fail rather than wait). A holder may remove the file before it
// unlocks; a waiter that then wakes up on the removed file tries again
// with a fresh one.
func lockFile(path string, how int) (*os.File, error) {
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
