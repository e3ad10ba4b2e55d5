package kernel

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// Exec replaces the calling process with argv running in the named
// namespace, the way ip netns exec does: a private mount namespace, /sys
// mounted afresh for the network namespace and /etc/netns/NAME/* bound
// over /etc. Each of files (the lab's hosts and resolv.conf) is bound
// over its namesake in /etc, unless /etc/netns/NAME has one of that name
// or the file does not exist. The command also enters the node's UTS
// namespace kept in holder (see EnsureUTSHolder), when there is one.
// It returns only on failure.
//
// Equivalent to: ip netns exec NAME ARGV... (which keeps the host's UTS
// namespace)
func Exec(name, holder string, argv, env []string, files ...string) error {
	if len(argv) == 0 {
		return errors.New("no command given")
	}
	path, err := exec.LookPath(argv[0])
	if err != nil {
		return err
	}
	ns, err := unix.Open(NetnsPath(name), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("opening namespace %s: %w", name, err)
	}
	runtime.LockOSThread() // never unlocked: this thread becomes the new program
	_, node, _ := strings.Cut(name, ".")
	if err := enterUTS(holder, node); err != nil {
		return err
	}
	if err := enter(name, ns, files); err != nil {
		return err
	}
	return &os.PathError{Op: "exec", Path: path, Err: syscall.Exec(path, argv, env)}
}

// enter moves the calling thread into a private mount namespace and the
// network namespace, then mounts /sys and /etc files for it.
func enter(name string, ns int, files []string) error {
	if err := unix.Unshare(unix.CLONE_NEWNS); err != nil {
		return fmt.Errorf("unsharing the mount namespace: %w", err)
	}
	if err := unix.Mount("", "/", "none", unix.MS_SLAVE|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("making / a slave mount: %w", err)
	}
	if err := unix.Setns(ns, unix.CLONE_NEWNET); err != nil {
		return fmt.Errorf("entering namespace %s: %w", name, err)
	}
	unix.Close(ns)
	if err := remountSys(name); err != nil {
		return err
	}
	if err := bindEtc(name); err != nil {
		return err
	}
	for _, f := range files {
		if err := bindLabFile(name, f); err != nil {
			return err
		}
	}
	return nil
}

// bindLabFile binds file over its namesake in /etc unless the namespace
// has a file of that name in /etc/netns/NAME or file does not exist.
func bindLabFile(name, file string) error {
	if file == "" {
		return nil
	}
	base := filepath.Base(file)
	if _, err := os.Stat(filepath.Join(EtcNetnsDir, name, base)); err == nil {
		return nil
	}
	if _, err := os.Stat(file); err != nil {
		return nil
	}
	if err := unix.Mount(file, filepath.Join("/etc", base), "none", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("binding %s over /etc/%s: %w", file, base, err)
	}
	return nil
}

func remountSys(name string) error {
	if err := unix.Unmount("/sys", unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) {
		return fmt.Errorf("unmounting /sys: %w", err)
	}
	if err := unix.Mount(name, "/sys", "sysfs", 0, ""); err != nil {
		return fmt.Errorf("mounting /sys for %s: %w", name, err)
	}
	return nil
}

// bindEtc binds each file of /etc/netns/NAME over its namesake in /etc.
func bindEtc(name string) error {
	dir := filepath.Join(EtcNetnsDir, name)
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, e := range entries {
		src, dst := filepath.Join(dir, e.Name()), filepath.Join("/etc", e.Name())
		if err := unix.Mount(src, dst, "none", unix.MS_BIND, ""); err != nil {
			return fmt.Errorf("binding %s over %s: %w", src, dst, err)
		}
	}
	return nil
}
