package kernel

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// A node's hostname lives in a UTS namespace of its own, kept beside its
// network namespace. A bind mount per node under /run would double the
// mounts of the host's mount table (fs.mount-max counts per mount
// namespace, and every nslab exec copies that table). Instead each lab has
// one holder: a mount namespace whose root is a small tmpfs, pinned by a
// single bind mount at HOLDER (/run/nslab/LAB/uts), in which each node's
// UTS namespace is bound at /NODE. The host gains one mount per lab; the
// holder has one mount per node and nothing else of the host's (so it
// pins no other lab's namespace). Everything is in the kernel: it survives
// kill -9 of any nslab process, and unmounting HOLDER frees it all.

var holderMu sync.Mutex

// onDirtyThread runs fn on a locked thread that is thrown away after:
// fn may leave it in other namespaces. Never the main thread, which the
// runtime cannot end and whose namespaces /proc/self shows: if the
// goroutine lands there, it holds it while another thread does the work.
func onDirtyThread(fn func() error) error {
	errc := make(chan error, 1)
	var run func()
	run = func() {
		runtime.LockOSThread() // never unlocked: the thread ends with the goroutine
		if unix.Gettid() == unix.Getpid() {
			done := make(chan struct{})
			go func() { run(); close(done) }()
			<-done
			runtime.UnlockOSThread()
			return
		}
		errc <- fn()
	}
	go run()
	return <-errc
}

// isNsfs reports whether path is a mounted namespace file.
func isNsfs(path string) bool {
	var st unix.Statfs_t
	return unix.Statfs(path, &st) == nil && st.Type == unix.NSFS_MAGIC
}

// EnsureUTSHolder makes the lab's holder mount namespace at holder unless
// it is there.
//
// Equivalent to: unshare --mount=HOLDER --propagation private (with a
// tmpfs as its root)
func EnsureUTSHolder(holder string) error {
	holderMu.Lock()
	defer holderMu.Unlock()
	if isNsfs(holder) {
		return nil
	}
	// Inside a mount namespace of its own (a sandbox of nsenter and
	// unshare), binding the new namespace fails now and then with EINVAL
	// on Linux 6.18, and succeeds when tried again a few ms later (seen:
	// up to 4 tries in 12 labs; on a loaded machine, 12 tries in 0.5 s
	// once failed in TestUpWaitsForDown): tried for 5 s.
	var err error
	deadline := time.Now().Add(5 * time.Second)
	for i := 0; ; i++ {
		if err = makeUTSHolder(holder); !errors.Is(err, unix.EINVAL) || time.Now().After(deadline) {
			return err
		}
		time.Sleep(min(time.Millisecond<<min(i, 6), 64*time.Millisecond))
	}
}

func makeUTSHolder(holder string) error {
	f, err := os.OpenFile(holder, os.O_RDONLY|os.O_CREATE, 0o444)
	if err != nil {
		return fmt.Errorf("making the hostname holder %s: %w", holder, err)
	}
	f.Close()
	// The new namespace is bound while the thread that made it is still
	// in it: since Linux 6.18 a namespace that only a descriptor holds is
	// inactive, and binding it fails with EINVAL.
	made, bound := make(chan int, 1), make(chan error, 1)
	errc := make(chan error, 1)
	go func() {
		errc <- onDirtyThread(func() error {
			if err := unix.Unshare(unix.CLONE_NEWNS); err != nil {
				return fmt.Errorf("unsharing the mount namespace: %w", err)
			}
			if err := unix.Mount("", "/", "", unix.MS_PRIVATE|unix.MS_REC, ""); err != nil {
				return fmt.Errorf("making / private: %w", err)
			}
			if err := holderRoot(holder); err != nil {
				return err
			}
			made <- unix.Gettid()
			<-bound
			return nil
		})
	}()
	select {
	case tid := <-made:
		self := fmt.Sprintf("/proc/%d/task/%d/ns/mnt", os.Getpid(), tid)
		err = unix.Mount(self, holder, "", unix.MS_BIND, "")
		bound <- err
		if e := <-errc; err == nil {
			err = e
		}
	case err = <-errc:
	}
	os.Remove(holder + ".d") // the tmpfs on it is the holder's root now
	if err != nil {
		os.Remove(holder)
		return fmt.Errorf("making the hostname holder %s: %w", holder, err)
	}
	return nil
}

// holderRoot makes a tmpfs the root of the calling thread's (new, private)
// mount namespace and drops every other mount from it.
func holderRoot(holder string) error {
	dir := holder + ".d"
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
		return err
	}
	if err := unix.Mount("nslab-uts", dir, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "mode=0700"); err != nil {
		return fmt.Errorf("mounting a tmpfs: %w", err)
	}
	if err := unix.Chdir(dir); err != nil {
		return err
	}
	if err := unix.PivotRoot(".", "."); err != nil {
		return fmt.Errorf("pivot_root: %w", err)
	}
	if err := unix.Unmount(".", unix.MNT_DETACH); err != nil {
		return fmt.Errorf("detaching the old root: %w", err)
	}
	return unix.Chdir("/")
}

// HasUTSHolder reports whether holder is a mounted holder.
func HasUTSHolder(holder string) bool { return isNsfs(holder) }

// DropUTSHolder unmounts the lab's holder and removes its file: every UTS
// namespace of the lab that no process uses is freed. A missing holder is
// fine.
func DropUTSHolder(holder string) error {
	err := unix.Unmount(holder, unix.MNT_DETACH)
	if err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("unmounting the hostname holder %s: %w", holder, err)
	}
	if err := os.Remove(holder); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// inHolder runs fn on a thrown-away thread inside the holder's mount
// namespace.
func inHolder(holder string, before, fn func() error) error {
	return onDirtyThread(func() error {
		if err := unix.Unshare(unix.CLONE_FS); err != nil {
			return fmt.Errorf("unsharing fs: %w", err)
		}
		if before != nil {
			if err := before(); err != nil {
				return err
			}
		}
		h, err := unix.Open(holder, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("opening the hostname holder: %w", err)
		}
		defer unix.Close(h)
		if err := unix.Setns(h, unix.CLONE_NEWNS); err != nil {
			return fmt.Errorf("entering the hostname holder: %w", err)
		}
		return fn()
	})
}

// MakeUTS gives node a new UTS namespace named hostname in the holder,
// replacing one it had.
//
// Equivalent to: nsenter --mount=HOLDER unshare --uts=/NODE hostname NAME
func MakeUTS(holder, node, hostname string) error {
	var tree int
	defer func() {
		if tree > 0 {
			unix.Close(tree)
		}
	}()
	before := func() error {
		if err := unix.Unshare(unix.CLONE_NEWUTS); err != nil {
			return fmt.Errorf("unsharing the UTS namespace: %w", err)
		}
		if err := unix.Sethostname([]byte(hostname)); err != nil {
			return fmt.Errorf("setting the hostname %q: %w", hostname, err)
		}
		var err error
		tree, err = unix.OpenTree(unix.AT_FDCWD, "/proc/thread-self/ns/uts", unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC)
		if err != nil {
			return fmt.Errorf("open_tree of the UTS namespace: %w", err)
		}
		return nil
	}
	return inHolder(holder, before, func() error {
		path := "/" + node
		unix.Unmount(path, unix.MNT_DETACH) // a namespace made before, if any
		f, err := unix.Open(path, unix.O_CREAT|unix.O_RDONLY|unix.O_CLOEXEC, 0o444)
		if err != nil {
			return err
		}
		unix.Close(f)
		if err := unix.MoveMount(tree, "", unix.AT_FDCWD, path, unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
			return fmt.Errorf("binding the UTS namespace: %w", err)
		}
		return nil
	})
}

// SetHostname changes the hostname inside node's kept UTS namespace.
//
// Equivalent to: nsenter --mount=HOLDER nsenter --uts=/NODE hostname NAME
func SetHostname(holder, node, hostname string) error {
	return inHolder(holder, nil, func() error {
		fd, err := unix.Open("/"+node, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("opening the UTS namespace: %w", err)
		}
		defer unix.Close(fd)
		if err := unix.Setns(fd, unix.CLONE_NEWUTS); err != nil {
			return fmt.Errorf("entering the UTS namespace: %w", err)
		}
		return unix.Sethostname([]byte(hostname))
	})
}

// DropUTS unbinds node's UTS namespace from the holder; a missing one is
// fine.
func DropUTS(holder, node string) error {
	if !isNsfs(holder) {
		return nil
	}
	return inHolder(holder, nil, func() error {
		path := "/" + node
		err := unix.Unmount(path, unix.MNT_DETACH)
		if err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("unbinding the UTS namespace: %w", err)
		}
		if err := unix.Unlink(path); err != nil && !errors.Is(err, unix.ENOENT) {
			return err
		}
		return nil
	})
}

// enterUTS moves the calling thread, which must be locked and will run
// no Go code afterwards but exec, into node's UTS namespace. A lab
// without a holder (made by an older nslab) or a node without a UTS
// namespace is left as it is.
func enterUTS(holder, node string) error {
	if holder == "" {
		return nil
	}
	h, err := unix.Open(holder, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil
	}
	defer unix.Close(h)
	if err := unix.Unshare(unix.CLONE_FS); err != nil {
		return fmt.Errorf("unsharing fs: %w", err)
	}
	host, err := unix.Open("/proc/thread-self/ns/mnt", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(host)
	cwd, err := unix.Open(".", unix.O_PATH|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(cwd)
	if err := unix.Setns(h, unix.CLONE_NEWNS); err != nil {
		return nil // not a holder: nothing to enter
	}
	uts, uerr := unix.Open("/"+node, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err := unix.Setns(host, unix.CLONE_NEWNS); err != nil {
		return fmt.Errorf("returning to the host's mount namespace: %w", err)
	}
	if err := unix.Fchdir(cwd); err != nil {
		return err
	}
	if uerr != nil {
		return nil
	}
	defer unix.Close(uts)
	if err := unix.Setns(uts, unix.CLONE_NEWUTS); err != nil {
		return fmt.Errorf("entering the UTS namespace of %s: %w", node, err)
	}
	return nil
}
