package kernel

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"syscall"

	"golang.org/x/sys/unix"
)

// EtcNetnsDir holds per-namespace files that replace those of /etc, as
// with ip netns exec: /etc/netns/NAME/resolv.conf over /etc/resolv.conf.
const EtcNetnsDir = "/etc/netns"

// Exec replaces the calling process with argv running in the named
// namespace, the way ip netns exec does: a private mount namespace, /sys
// mounted afresh for the network namespace and /etc/netns/NAME/* bound
// over /etc. hosts, when set and when /etc/netns/NAME has no hosts file,
// is bound over /etc/hosts. It returns only on failure.
//
// Equivalent to: ip netns exec NAME ARGV...
func Exec(name string, argv, env []string, hosts string) error {
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
	if err := enter(name, ns, hosts); err != nil {
		return err
	}
	return &os.PathError{Op: "exec", Path: path, Err: syscall.Exec(path, argv, env)}
}

// enter moves the calling thread into a private mount namespace and the
// network namespace, then mounts /sys and /etc files for it.
func enter(name string, ns int, hosts string) error {
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
	return bindHosts(name, hosts)
}

// bindHosts binds hosts over /etc/hosts unless the namespace has a hosts
// file of its own in /etc/netns/NAME or hosts does not exist.
func bindHosts(name, hosts string) error {
	if hosts == "" {
		return nil
	}
	if _, err := os.Stat(filepath.Join(EtcNetnsDir, name, "hosts")); err == nil {
		return nil
	}
	if _, err := os.Stat(hosts); err != nil {
		return nil
	}
	if err := unix.Mount(hosts, "/etc/hosts", "none", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("binding %s over /etc/hosts: %w", hosts, err)
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
