package kernel

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"golang.org/x/sys/unix"
)

func (s Sysctl) path() string {
	return filepath.Join("/proc", s.rel())
}

// SysctlKnown reports whether this kernel has the setting key, as seen
// from the calling thread's namespace (per-namespace settings are the
// same in every network namespace, the loaded modules' included).
func SysctlKnown(key string) bool {
	_, err := os.Stat(Sysctl{Key: key}.path())
	return err == nil
}

// SysctlsPerNamespace reports for each key whether it is a setting of
// each network namespace: one that a fresh namespace has and lets root
// write. Host-wide settings (net.core.rmem_max,
// net.netfilter.nf_conntrack_max, net.core.netdev_max_backlog) are
// missing there or read-only, so setting them in a node fails with
// permission denied even as root. The probe unshares a namespace of its
// own on a locked thread, opens each key for writing without writing, and
// leaves the namespace to the kernel.
func SysctlsPerNamespace(keys []string) (map[string]bool, error) {
	out := make(map[string]bool, len(keys))
	err := onThread(func() error {
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			return fmt.Errorf("probing sysctls in a new namespace: %w", err)
		}
		return nil
	}, func() error {
		for _, k := range keys {
			fd, err := unix.Open(Sysctl{Key: k}.path(), unix.O_WRONLY|unix.O_CLOEXEC, 0)
			if err == nil {
				unix.Close(fd)
			}
			out[k] = err == nil
		}
		return nil
	})
	return out, err
}

// writeSysctls writes settings in the namespace of the calling thread.
//
// It writes through a procfs instance of its own, not through /proc. Every
// namespace that has been looked at through a procfs mount leaves an entry
// for /proc/sys/net in one hash chain of the dentry cache, which every
// later lookup in a new namespace walks in full: writing three sysctls per
// node made 41% of the CPU time of building 10,000 nodes, growing with the
// square of the lab. A private, detached procfs (fsopen(2), never in the
// mount table, so nothing to leak) serves a few namespaces and is then
// dropped with its dentries, which keeps that chain short.
func writeSysctls(settings []Sysctl) error {
	if len(settings) == 0 {
		return nil
	}
	root, release := procSys.get()
	defer release()
	for _, s := range settings {
		if err := writeSysctl(root, s); err != nil {
			return &SysctlError{Key: s.Key, Value: s.Value, Err: err}
		}
	}
	return nil
}

func (e *SysctlError) Error() string {
	msg := fmt.Sprintf("setting %s=%s: %v", e.Key, e.Value, e.Err)
	switch {
	case errors.Is(e.Err, unix.EINVAL), errors.Is(e.Err, unix.ERANGE):
		msg += " (the kernel refuses this value: see the setting's range in the kernel's sysctl documentation)"
	case errors.Is(e.Err, os.ErrNotExist):
		msg += " (this kernel has no such setting: check the name, or load the module that provides it)"
	}
	return msg
}

func writeSysctl(root int, s Sysctl) error {
	if root < 0 {
		return os.WriteFile(s.path(), []byte(s.Value), 0o644)
	}
	fd, err := unix.Openat(root, s.rel(), unix.O_WRONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: s.path(), Err: err}
	}
	defer unix.Close(fd)
	if _, err := unix.Write(fd, []byte(s.Value)); err != nil {
		return &os.PathError{Op: "write", Path: s.path(), Err: err}
	}
	return nil
}

// procSys hands out private procfs instances (see writeSysctls).
var procSys = procPool{uses: 16}

// procPool keeps detached procfs mounts, each used for up to uses
// namespaces.
type procPool struct {
	uses int
	mu   sync.Mutex
	free []procMount
	// broken is set when this kernel cannot make a private procfs; /proc
	// is used then.
	broken bool
}

type procMount struct{ fd, used int }

// get returns the root of a procfs instance, or -1 to mean /proc, and a
// function that gives it back.
func (p *procPool) get() (int, func()) {
	p.mu.Lock()
	if p.broken {
		p.mu.Unlock()
		return -1, func() {}
	}
	var m procMount
	if n := len(p.free); n > 0 {
		m, p.free = p.free[n-1], p.free[:n-1]
		p.mu.Unlock()
	} else {
		p.mu.Unlock()
		fd, err := newProc()
		if err != nil {
			p.mu.Lock()
			p.broken = true
			p.mu.Unlock()
			return -1, func() {}
		}
		m = procMount{fd: fd}
	}
	return m.fd, func() {
		m.used++
		if m.used >= p.uses {
			unix.Close(m.fd)
			return
		}
		p.mu.Lock()
		p.free = append(p.free, m)
		p.mu.Unlock()
	}
}

// newProc makes a detached procfs mount and returns a descriptor of its
// root.
func newProc() (int, error) {
	fs, err := unix.Fsopen("proc", unix.FSOPEN_CLOEXEC)
	if err != nil {
		return -1, err
	}
	defer unix.Close(fs)
	if err := unix.FsconfigCreate(fs); err != nil {
		return -1, err
	}
	return unix.Fsmount(fs, unix.FSMOUNT_CLOEXEC, unix.MOUNT_ATTR_NOSUID|unix.MOUNT_ATTR_NODEV|unix.MOUNT_ATTR_NOEXEC)
}

func (o *NetnsAdd) Apply(c *Conn) error {
	if err := opErr(o.Name, "creating namespace", o.create(c)); err != nil {
		return err
	}
	if o.Holder == "" {
		return nil
	}
	err := EnsureUTSHolder(o.Holder)
	if err == nil {
		err = MakeUTS(o.Holder, o.Node, o.Hostname)
	}
	return opErr(o.Name, "making the hostname's UTS namespace", err)
}

func (o *HostnameSet) Apply(*Conn) error {
	err := EnsureUTSHolder(o.Holder)
	if err == nil {
		err = SetHostname(o.Holder, o.Node, o.Hostname)
		if errors.Is(err, unix.ENOENT) {
			err = MakeUTS(o.Holder, o.Node, o.Hostname)
		}
	}
	return opErr(o.NS, "setting the hostname", err)
}

func (o *NetnsAdd) create(c *Conn) error {
	if err := prepareNetnsDir(); err != nil {
		return err
	}
	path := NetnsPath(o.Name)
	f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE|os.O_EXCL, 0o444)
	if err != nil {
		return err
	}
	f.Close()
	if err := inNewNetns(func(self string) error { return o.setup(self, path) }); err != nil {
		c.Forget(o.Name)
		unix.Unmount(path, unix.MNT_DETACH)
		os.Remove(path)
		return err
	}
	return nil
}

// loIndex is the ifindex of lo in every namespace.
const loIndex = 1

// setup runs inside the new namespace.
func (o *NetnsAdd) setup(self, path string) error {
	// A one-off socket: keeping sockets open in every namespace measured
	// slower than opening them later where needed.
	if _, err := setUpMsg(loIndex, "", o.Marker, 0).Execute(unix.NETLINK_ROUTE, 0); err != nil {
		return fmt.Errorf("marking lo and bringing it up: %w", err)
	}
	if err := writeSysctls(o.Sysctls); err != nil {
		return err
	}
	if err := unix.Mount(self, path, "none", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("bind-mounting %s: %w", path, err)
	}
	return nil
}

// inNewNetns runs fn on a locked thread inside a fresh network namespace;
// fn gets the thread's namespace path to bind-mount it.
func inNewNetns(fn func(self string) error) error {
	return onThread(func() error {
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			return fmt.Errorf("unshare: %w", err)
		}
		return nil
	}, func() error { return fn(threadNetns()) })
}

var netnsDirOnce struct {
	sync.Mutex
	done bool
}

// NetnsDirMade says what PrepareNetnsDir had to make: the /run/netns
// directory, and the bind mount of it on itself.
type NetnsDirMade struct{ Dir, Mount bool }

// prepareNetnsDir is PrepareNetnsDir once per process.
func prepareNetnsDir() error {
	netnsDirOnce.Lock()
	defer netnsDirOnce.Unlock()
	if netnsDirOnce.done {
		return nil
	}
	_, err := prepareNetnsDirLocked()
	return err
}

// PrepareNetnsDir makes /run/netns a shared mount point, as ip netns add
// does, so that namespace mounts propagate to other mount namespaces. It
// reports what it made, so that ReleaseNetnsDir can take it back. It looks
// at the mount table each time: another process may have released it.
func PrepareNetnsDir() (NetnsDirMade, error) {
	netnsDirOnce.Lock()
	defer netnsDirOnce.Unlock()
	return prepareNetnsDirLocked()
}

func prepareNetnsDirLocked() (NetnsDirMade, error) {
	var made NetnsDirMade
	if _, err := os.Stat(NetnsDir); errors.Is(err, os.ErrNotExist) {
		if err := os.MkdirAll(NetnsDir, 0o755); err != nil {
			return made, err
		}
		made.Dir = true
	}
	err := unix.Mount("", NetnsDir, "none", unix.MS_SHARED|unix.MS_REC, "")
	if errors.Is(err, unix.EINVAL) {
		if err := unix.Mount(NetnsDir, NetnsDir, "none", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			return made, fmt.Errorf("bind-mounting %s: %w", NetnsDir, err)
		}
		made.Mount = true
		err = unix.Mount("", NetnsDir, "none", unix.MS_SHARED|unix.MS_REC, "")
	}
	if err != nil {
		return made, fmt.Errorf("making %s a shared mount: %w", NetnsDir, err)
	}
	netnsDirOnce.done = true
	return made, nil
}

// ReleaseNetnsDir takes back what PrepareNetnsDir made, when no
// namespace is named under /run/netns any more: the mount (never
// detached, so that the kernel refuses while any namespace is mounted
// there) and the directory. It reports whether it did; a directory in use
// is no error.
func ReleaseNetnsDir(made NetnsDirMade) (bool, error) {
	netnsDirOnce.Lock()
	defer netnsDirOnce.Unlock()
	if entries, err := os.ReadDir(NetnsDir); err != nil || len(entries) > 0 {
		return false, nil
	}
	if made.Mount {
		err := unix.Unmount(NetnsDir, 0)
		if errors.Is(err, unix.EBUSY) {
			return false, nil
		}
		if err != nil && !errors.Is(err, unix.EINVAL) {
			return false, fmt.Errorf("unmounting %s: %w", NetnsDir, err)
		}
	}
	netnsDirOnce.done = false
	if made.Dir {
		// Fails, harmlessly, when a namespace was named there meanwhile.
		os.Remove(NetnsDir)
	}
	return true, nil
}

func (o *NetnsDel) Apply(c *Conn) error {
	c.Forget(o.Name)
	if o.Hold {
		c.holdNetns(o.Name)
	}
	err := DeleteNetns(o.Name)
	if err == nil && o.Holder != "" {
		err = DropUTS(o.Holder, o.Node)
	}
	return opErr(o.Name, "deleting namespace", err)
}

// DeleteNetns unmounts and removes /run/netns/NAME; a missing one is fine.
func DeleteNetns(name string) error {
	path := NetnsPath(name)
	err := unix.Unmount(path, unix.MNT_DETACH)
	if err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("unmounting %s: %w", path, err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

func (o *SysctlSet) Apply(*Conn) error {
	if o.NS == "" {
		return opErr("", "setting sysctls", writeSysctls(o.Settings))
	}
	err := Do(NetnsPath(o.NS), func() error { return writeSysctls(o.Settings) })
	return opErr(o.NS, "setting sysctls", err)
}

// holdNetns keeps the named namespace open until releaseHeld; the Conn
// lets go of what it holds first when it holds as many as it may (see
// heldMax). A name that is no namespace is not held.
func (c *Conn) holdNetns(name string) {
	fd, err := unix.Open(NetnsPath(name), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return
	}
	var fs unix.Statfs_t
	if unix.Fstatfs(fd, &fs) != nil || fs.Type != unix.NSFS_MAGIC {
		unix.Close(fd)
		return
	}
	c.mu.Lock()
	full := len(c.held) >= heldMax()
	c.held = append(c.held, fd)
	c.mu.Unlock()
	if full {
		c.releaseHeld()
	}
}

// releaseHeld closes every namespace that holdNetns kept.
func (c *Conn) releaseHeld() {
	c.mu.Lock()
	held := c.held
	c.held = nil
	c.mu.Unlock()
	for _, fd := range held {
		unix.Close(fd)
	}
}

// heldMax is how many namespaces a Conn holds at most: the open-file
// limit less a margin for everything else nslab opens meanwhile.
var heldMax = sync.OnceValue(func() int {
	var rl unix.Rlimit
	if unix.Getrlimit(unix.RLIMIT_NOFILE, &rl) != nil || rl.Cur < 2048 {
		return 0
	}
	return int(min(rl.Cur-1024, 1<<20))
})

func (o *NetnsRelease) Apply(c *Conn) error {
	c.releaseHeld()
	return nil
}
