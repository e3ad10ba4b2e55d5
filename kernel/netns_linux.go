package kernel

import (
	"errors"
	"fmt"
	"os"
	"runtime"

	"golang.org/x/sys/unix"
)

// Do runs fn on an OS thread that has joined the network namespace at
// path (a /run/netns entry or /proc/PID/ns/net). An empty path runs fn in
// the caller's namespace. Goroutines that fn starts do not inherit the
// namespace. If the thread cannot return to its namespace, it stays
// locked so that the Go runtime discards it.
func Do(path string, fn func() error) error {
	if path == "" {
		return fn()
	}
	target, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("opening namespace %s: %w", path, err)
	}
	defer unix.Close(target)

	return onThread(func() error {
		if err := unix.Setns(target, unix.CLONE_NEWNET); err != nil {
			return fmt.Errorf("entering namespace %s: %w", path, err)
		}
		return nil
	}, fn)
}

// onThread runs fn on a locked OS thread after enter has moved the thread
// to another network namespace, then moves it back. If enter fails, fn
// does not run. If the thread cannot return, it stays locked so that the
// Go runtime discards it with the goroutine.
func onThread(enter, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		origin, err := unix.Open(threadNetns(), unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("opening current namespace: %w", err)
			return
		}
		defer unix.Close(origin)
		if err := enter(); err != nil {
			unix.Setns(origin, unix.CLONE_NEWNET)
			runtime.UnlockOSThread()
			errc <- err
			return
		}
		ferr := fn()
		if err := unix.Setns(origin, unix.CLONE_NEWNET); err != nil {
			errc <- errors.Join(ferr, fmt.Errorf("returning to the original namespace: %w", err))
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}

func threadNetns() string {
	return fmt.Sprintf("/proc/%d/task/%d/ns/net", os.Getpid(), unix.Gettid())
}
