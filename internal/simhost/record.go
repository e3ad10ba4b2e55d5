package simhost

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/nslab/nslab/internal/procstat"
)

// RecordDir holds one record per cluster of the machine (PREFIX.json):
// which process owns it, its links, its hosts' namespaces, so that a
// cluster whose owner died without Close (a test killed by go test's
// timeout, kill -9 of the simhosts tool) is removed by the next Start.
const RecordDir = "/run/nslab-simhosts"

// record is a cluster as its owner left it.
type record struct {
	Owner  string       `json:"owner"` // "PID START" (start: clock ticks since boot)
	Prefix string       `json:"prefix"`
	Bridge string       `json:"bridge"`
	Links  []string     `json:"links"`
	Hosts  []hostRecord `json:"hosts"`
	// Dir is removed with the cluster when RemoveDir (a directory the
	// simhosts tool made for the keys).
	Dir       string `json:"dir"`
	RemoveDir bool   `json:"remove_dir,omitempty"`
}

// hostRecord names a host's namespaces by inode: a process in both is
// the host's (its sshd, its sessions, nslab there).
type hostRecord struct {
	Name string `json:"name"`
	Net  uint64 `json:"net"`
	Mnt  uint64 `json:"mnt"`
}

func recordPath(prefix string) string { return filepath.Join(RecordDir, prefix+".json") }

// write saves the cluster's record, replacing the last.
func (c *Cluster) writeRecord() error {
	r := record{Owner: selfOwner(), Prefix: c.prefix, Bridge: c.Bridge, Dir: c.Dir, RemoveDir: c.removeDir}
	for _, h := range c.Hosts {
		r.Links = append(r.Links, h.Link)
		if h.netIno != 0 {
			r.Hosts = append(r.Hosts, hostRecord{Name: h.Name, Net: h.netIno, Mnt: h.mntIno})
		}
	}
	data, err := json.Marshal(r)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(RecordDir, 0o700); err != nil {
		return err
	}
	tmp := recordPath(c.prefix) + ".new"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, recordPath(c.prefix))
}

// claim takes the prefix for this process: refused when a live owner
// holds it, or when its bridge exists without a record (not a cluster's).
func claim(prefix, bridge string) error {
	data, err := os.ReadFile(recordPath(prefix))
	if err == nil {
		var r record
		if json.Unmarshal(data, &r) == nil && ownerAlive(r.Owner) {
			pid, _, _ := strings.Cut(r.Owner, " ")
			return fmt.Errorf("simhost: prefix %s is taken by a cluster of process %s (choose another prefix)", prefix, pid)
		}
	}
	if err != nil && linkExists(bridge) {
		return fmt.Errorf("simhost: a link %s exists and is no cluster's (%s has no record of it): choose another prefix", bridge, RecordDir)
	}
	return nil
}

// removeRecord forgets the cluster, and the directory with the last.
func removeRecord(prefix string) {
	os.Remove(recordPath(prefix))
	os.Remove(RecordDir)
}

// ReapDead removes the clusters whose owners died without closing them:
// it ends every process of their hosts (sshd, its sessions, nslab there,
// the processes in the nodes of labs built there), deletes their links
// and forgets them. It returns what it removed, one line per cluster,
// and what it could not. Start calls it.
func ReapDead() (reaped []string, err error) {
	ents, _ := os.ReadDir(RecordDir)
	var errs []error
	for _, e := range ents {
		prefix, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok {
			continue
		}
		data, rerr := os.ReadFile(recordPath(prefix))
		var r record
		if rerr != nil || json.Unmarshal(data, &r) != nil || ownerAlive(r.Owner) {
			continue
		}
		if rerr := r.remove(); rerr != nil {
			errs = append(errs, fmt.Errorf("removing the simulated hosts %s left by process %s: %w", prefix, r.Owner, rerr))
			continue
		}
		reaped = append(reaped, fmt.Sprintf("simulated hosts %s (bridge %s, %d hosts) of dead process %s", prefix, r.Bridge, len(r.Hosts), strings.Fields(r.Owner)[0]))
		removeRecord(prefix)
	}
	return reaped, errors.Join(errs...)
}

// remove ends the processes of a dead cluster's hosts and deletes its
// links.
func (r *record) remove() error {
	var errs []error
	for _, h := range r.Hosts {
		if left := endHost(h.Net, h.Mnt); len(left) > 0 {
			errs = append(errs, fmt.Errorf("host %s: processes %v did not end", h.Name, left))
		}
	}
	for _, l := range append(append([]string{}, r.Links...), r.Bridge) {
		if l != "" && linkExists(l) {
			if err := ip("link", "del", l); err != nil && linkExists(l) {
				errs = append(errs, err)
			}
		}
	}
	if r.RemoveDir && r.Dir != "" && strings.HasPrefix(filepath.Base(r.Dir), "simhosts-") {
		os.RemoveAll(r.Dir)
	}
	return errors.Join(errs...)
}

// endHost kills every process of a host (in its network or its mount
// namespace) and every process in the namespaces named in the
// host's /run/netns (the nodes of labs built there), and waits up to 5 s
// for them to be gone; it returns those left.
func endHost(netIno, mntIno uint64) []int {
	pids := hostProcesses(netIno, mntIno)
	if len(pids) == 0 {
		// No process is in both: the host is gone (its namespaces' inodes
		// may be another's by now), or never started.
		return nil
	}
	inodes := map[uint64]bool{netIno: true}
	for _, pid := range pids {
		ents, _ := os.ReadDir(fmt.Sprintf("/proc/%d/root/run/netns", pid))
		for _, e := range ents {
			if ino, err := nsInode(fmt.Sprintf("/proc/%d/root/run/netns/%s", pid, e.Name())); err == nil {
				inodes[ino] = true
			}
		}
		if len(ents) > 0 {
			break
		}
	}
	all := func() []int {
		seen := map[int]bool{}
		var out []int
		for _, p := range processesInMnt(mntIno) {
			seen[p] = true
			out = append(out, p)
		}
		for ino := range inodes {
			for _, p := range processesIn(ino) {
				if !seen[p] {
					seen[p] = true
					out = append(out, p)
				}
			}
		}
		return out
	}
	for _, pid := range all() {
		syscall.Kill(pid, syscall.SIGKILL)
	}
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		left := all()
		if len(left) == 0 {
			return nil
		}
		for _, pid := range left {
			syscall.Kill(pid, syscall.SIGKILL)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return all()
}

// processesInMnt lists the pids whose mount namespace has inode ino.
func processesInMnt(ino uint64) []int { return processesWith("mnt", ino) }

// hostProcesses lists the processes in both namespaces: a host's own.
func hostProcesses(netIno, mntIno uint64) []int {
	var out []int
	for _, pid := range processesIn(netIno) {
		if i, err := nsInode(fmt.Sprintf("/proc/%d/ns/mnt", pid)); err == nil && i == mntIno {
			out = append(out, pid)
		}
	}
	return out
}

// selfOwner names this process for good: "PID START".
func selfOwner() string {
	pid := os.Getpid()
	start, _ := startTime(pid)
	return fmt.Sprintf("%d %d", pid, start)
}

// ownerAlive reports whether the process of an owner ("PID START") runs:
// a process of that pid that started at that time.
func ownerAlive(owner string) bool {
	f := strings.Fields(owner)
	if len(f) != 2 {
		return false
	}
	pid, err := strconv.Atoi(f[0])
	if err != nil || pid <= 0 || syscall.Kill(pid, 0) == syscall.ESRCH {
		return false
	}
	start, err := startTime(pid)
	return err != nil || strconv.FormatUint(start, 10) == f[1]
}

// startTime reads when process pid started, in clock ticks since boot.
func startTime(pid int) (uint64, error) {
	_, start, err := procstat.Read(pid)
	return start, err
}
