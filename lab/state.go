package lab

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"

	"github.com/nslab/nslab/internal/netnsdir"
	"github.com/nslab/nslab/topology"
	"golang.org/x/sys/unix"
)

// The lab's state store: what nslab keeps about running labs under
// StateDir, a directory of each lab's files (StateDir/LAB/) and the
// locks (StateDir/.locks/). The kernel stays the truth; these files are
// hints that a crash may leave stale.

// StateDir holds nslab's hints about running labs: StateDir/LAB/ keeps a
// copy of the topology a lab was built from. The kernel stays the truth.
var StateDir = "/run/nslab"

func labDir(name string) string { return filepath.Join(StateDir, name) }

func topologyFile(name string) string { return filepath.Join(labDir(name), "topology.yaml") }

// buildingFile exists while a lab is being built or changed.
func buildingFile(name string) string { return filepath.Join(labDir(name), "building") }

// removingFile exists while a lab is being removed.
func removingFile(name string) string { return filepath.Join(labDir(name), "removing") }

// prevFile keeps, during a change, the file the lab ran before it.
func prevFile(name string) string { return filepath.Join(labDir(name), "topology.prev.yaml") }

// faultsFile is the record of the faults in force (plan.Faults).
func faultsFile(name string) string { return filepath.Join(labDir(name), "faults.json") }

func claimsFile(name string) string { return filepath.Join(labDir(name), "claims.json") }

// assignedFile keeps the addresses nslab chose for a running lab, one
// member per line: "MEMBER ADDR,ADDR".
func assignedFile(name string) string { return filepath.Join(labDir(name), "assigned") }

// HostsFile is the lab's hosts file: every node by name, and each of its
// interfaces as IF.NODE, at its addresses. nslab exec and nslab shell
// bind it over /etc/hosts in the lab's nodes, unless the node has a hosts
// file of its own in /etc/netns/LAB.NODE/ (which wins, as with ip netns
// exec). Keeping one file in the lab's state, rather than one per node
// under /etc, costs nothing per node: writing 1000 links under /etc took
// 0.15 s of up and 0.2 s of down.
func HostsFile(name string) string { return filepath.Join(labDir(name), "hosts") }

// ResolvFile is the lab's resolv.conf, next to its hosts file: nslab exec
// and nslab shell bind it over /etc/resolv.conf in the lab's nodes, unless
// the node has one of its own in /etc/netns/LAB.NODE/ (which wins, as
// with ip netns exec). A node that kept the host's would ask a server it
// cannot reach and wait 5-10 s for every name the lab does not know.
func ResolvFile(name string) string { return filepath.Join(labDir(name), "resolv.conf") }

// UTSHolder is the file that holds the lab's hostnames: a mount namespace
// in which each node's UTS namespace is bound at /NODE (see
// kernel.EnsureUTSHolder).
func UTSHolder(name string) string { return filepath.Join(labDir(name), "uts") }

// The host's lock serialises what labs take of the host: a lab holds it
// while it observes the host, checks its subnets and ports against the
// host and the other labs' claims, and records its own claims; it builds
// after, in parallel with other labs.
func hostLockPath() string { return filepath.Join(StateDir, ".locks", ".host") }

// savedAssignments reads them; a missing or unreadable file is none.
func savedAssignments(name string) topology.Assignments {
	b, err := os.ReadFile(assignedFile(name))
	if err != nil {
		return nil
	}
	a := topology.Assignments{}
	for _, line := range strings.Split(string(b), "\n") {
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		for _, s := range strings.Split(line[i+1:], ",") {
			if pfx, err := netip.ParsePrefix(s); err == nil {
				a[line[:i]] = append(a[line[:i]], pfx)
			}
		}
	}
	return a
}

// saveAssignments writes them, atomically.
func saveAssignments(t *topology.Lab) error {
	tmp := assignedFile(t.Name) + ".new"
	if err := os.WriteFile(tmp, []byte(t.Assignments().String()+"\n"), 0o600); err != nil {
		return fmt.Errorf("saving lab state: %w", err)
	}
	if err := os.Rename(tmp, assignedFile(t.Name)); err != nil {
		return fmt.Errorf("saving lab state: %w", err)
	}
	return nil
}

func saveTopology(name string, source []byte) error {
	if err := os.MkdirAll(labDir(name), 0o700); err != nil {
		return fmt.Errorf("saving lab state: %w", err)
	}
	tmp := topologyFile(name) + ".new"
	if err := os.WriteFile(tmp, source, 0o600); err != nil {
		return fmt.Errorf("saving lab state: %w", err)
	}
	if err := os.Rename(tmp, topologyFile(name)); err != nil {
		return fmt.Errorf("saving lab state: %w", err)
	}
	return saveHome(name)
}

// privateLab makes the lab's state directory, or takes access to it and
// its files from other users where an older nslab left them open (0755,
// 0644). The hosts and resolv.conf files stay readable: nslab exec binds
// them over /etc/hosts and /etc/resolv.conf in the nodes, where programs
// of any user read them. The hostnames' holder (UTSHolder) is a
// mount of a namespace, which has no mode to change.
func privateLab(name string) error {
	dir := labDir(name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("saving lab state: %w", err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return fmt.Errorf("saving lab state: %w", err)
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		fi, err := e.Info()
		if err != nil || !fi.Mode().IsRegular() || e.Name() == filepath.Base(HostsFile(name)) || e.Name() == filepath.Base(ResolvFile(name)) || e.Name() == filepath.Base(UTSHolder(name)) || fi.Mode().Perm()&0o077 == 0 {
			continue
		}
		if err := os.Chmod(filepath.Join(dir, e.Name()), 0o600); err != nil {
			return fmt.Errorf("saving lab state: %w", err)
		}
	}
	return nil
}

// lock takes the lab's lock, waiting (and saying for whom) while another
// process holds it, until ctx is done. The lock files live outside the lab
// directories, in StateDir/.locks; down removes the lab's lock file while
// it holds it, so a waiter that wakes up on a removed file tries again
// with a fresh one. StateDir and the locks are root's alone (0700): a user
// who could open a lock file could take the lock and stall every up and
// down of the lab.
func lock(ctx context.Context, name string, opt *Options) (*labLock, error) {
	if err := netnsdir.Private(StateDir); err != nil {
		return nil, fmt.Errorf("lab %s: %w", name, err)
	}
	path := filepath.Join(StateDir, ".locks", name)
	f, err := netnsdir.Lock(ctx, path, unix.LOCK_EX, func(holder string) {
		opt.logf("lab %s is busy: %s holds its lock; waiting (Ctrl-C stops)", name, holder)
	})
	var we *netnsdir.WaitError
	if errors.As(err, &we) {
		return nil, fmt.Errorf("lab %s: stopped while waiting for its lock, held by %s (%w): nothing was changed", name, we.Holder, we.Err)
	}
	if err != nil {
		return nil, fmt.Errorf("lab %s: %w", name, err)
	}
	return &labLock{f: f, path: path}, nil
}

// labLock is a held lab lock.
type labLock struct {
	f    *os.File
	path string
}

func (l *labLock) unlock() { l.f.Close() }

// done unlocks, and removes the lock file too when the lab does not
// exist (a failed first build, say): locks of labs that are gone do not
// pile up.
func (l *labLock) done(name string) {
	if Exists(name) {
		l.unlock()
		return
	}
	l.remove()
}

// remove deletes the lock file and the state directories left empty, then
// unlocks: for a lab that no longer exists.
func (l *labLock) remove() {
	netnsdir.Release(StateDir)
	releaseHostLock()
	os.Remove(l.path)
	os.Remove(filepath.Dir(l.path))
	os.Remove(StateDir)
	l.unlock()
}
