package kernel

import (
	"errors"
	"fmt"
	"os"
	"runtime"

	"golang.org/x/sys/unix"
)

// MountBase is a mount namespace to start a lab's services from: the
// host's, as a slave (mounts made on the host later still appear in it),
// less /run/netns. Each service still gets a private mount namespace of
// its own (its node's /sys, the lab's /etc files), but copied from the
// base, which does not hold a mount per node of every lab on the
// machine: at 1000 nodes, copying the host's mount table for each
// service made starting a service cost O(nodes), a lab's O(nodes²);
// and the copies pinned every namespace named then, and each new
// /run/netns entry on the host propagated into every service.
//
// A thread of the calling process stays in the base (parked) until
// Close: it keeps the namespace in use.
type MountBase struct {
	fd   int
	done chan struct{}
}

// NewMountBase makes a base mount namespace.
//
// Equivalent to: unshare --mount --propagation slave sh -c 'umount -l
// /run/netns; umount -l /sys'
func NewMountBase() (*MountBase, error) {
	b := &MountBase{done: make(chan struct{})}
	ready := make(chan error, 1)
	var run func()
	run = func() {
		runtime.LockOSThread() // never unlocked: the thread ends in the base
		if unix.Gettid() == unix.Getpid() {
			// The main thread cannot be thrown away: hold it while another
			// goroutine locks a thread of its own.
			locked := make(chan struct{})
			go func() {
				runtime.LockOSThread() // never unlocked, as above
				close(locked)
				b.hold(ready)
			}()
			<-locked
			runtime.UnlockOSThread()
			return
		}
		b.hold(ready)
	}
	go run()
	if err := <-ready; err != nil {
		return nil, fmt.Errorf("making the services' mount namespace: %w", err)
	}
	return b, nil
}

// hold makes the base on the calling thread, locked and never to run
// anything else, says so on ready and parks there until Close.
func (b *MountBase) hold(ready chan<- error) {
	err := b.make()
	ready <- err
	if err == nil {
		<-b.done
	}
}

func (b *MountBase) make() error {
	if err := unix.Unshare(unix.CLONE_FS | unix.CLONE_NEWNS); err != nil {
		return fmt.Errorf("unsharing the mount namespace: %w", err)
	}
	if err := unix.Mount("", "/", "", unix.MS_SLAVE|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("making / a slave mount: %w", err)
	}
	// /sys too (and what is mounted on it): each command mounts its
	// node's, and unmounting a tree costs an RCU grace period: once here,
	// not once per command.
	for _, dir := range []string{NetnsDir, "/sys"} {
		if err := unix.Unmount(dir, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("detaching %s: %w", dir, err)
		}
	}
	fd, err := unix.Open(fmt.Sprintf("/proc/%d/task/%d/ns/mnt", os.Getpid(), unix.Gettid()), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	b.fd = fd
	return nil
}

// Close lets the base go (services started from it keep their own).
func (b *MountBase) Close() {
	unix.Close(b.fd)
	close(b.done)
}
