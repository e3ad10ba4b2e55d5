package kernel

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Process is a process whose network namespace is a named namespace.
type Process struct {
	PID   int      `json:"pid"`
	Netns string   `json:"netns"`
	Args  []string `json:"args"`
}

// NetnsInode returns the inode that identifies a named namespace.
func NetnsInode(name string) (uint64, error) {
	var st unix.Stat_t
	if err := unix.Stat(NetnsPath(name), &st); err != nil {
		return 0, err
	}
	return st.Ino, nil
}

// ProcessesIn lists the processes that live in any of the named
// namespaces, as the ps -eo pid,netns,args view does, sorted by PID.
func ProcessesIn(names []string) ([]Process, error) {
	byInode := make(map[string]string, len(names))
	for _, n := range names {
		ino, err := NetnsInode(n)
		if err != nil {
			continue // gone, or not a namespace: nothing can live in it
		}
		byInode[fmt.Sprintf("net:[%d]", ino)] = n
	}
	if len(byInode) == 0 {
		return nil, nil
	}
	dir, err := os.ReadDir("/proc")
	if err != nil {
		return nil, fmt.Errorf("listing /proc: %w", err)
	}
	var out []Process
	for _, e := range dir {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		link, err := os.Readlink("/proc/" + e.Name() + "/ns/net")
		if err != nil {
			continue
		}
		if ns, ok := byInode[link]; ok {
			out = append(out, Process{PID: pid, Netns: ns, Args: cmdline(pid)})
		}
	}
	return out, nil
}

func cmdline(pid int) []string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil || len(b) == 0 {
		comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
		return []string{"[" + strings.TrimSpace(string(comm)) + "]"}
	}
	parts := bytes.Split(bytes.TrimRight(b, "\x00"), []byte{0})
	args := make([]string, len(parts))
	for i, p := range parts {
		args[i] = string(p)
	}
	return args
}

// KillIn ends every process in the named namespaces: SIGTERM, then SIGKILL
// for those still there after grace. It returns how many it signalled.
func KillIn(names []string, grace time.Duration) (int, error) {
	procs, err := ProcessesIn(names)
	if err != nil || len(procs) == 0 {
		return 0, err
	}
	self := os.Getpid()
	for _, p := range procs {
		if p.PID != self {
			syscall.Kill(p.PID, syscall.SIGTERM)
		}
	}
	deadline := time.Now().Add(grace)
	for time.Now().Before(deadline) {
		left, _ := ProcessesIn(names)
		if len(left) == 0 {
			return len(procs), nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	left, err := ProcessesIn(names)
	for _, p := range left {
		if p.PID != self {
			syscall.Kill(p.PID, syscall.SIGKILL)
		}
	}
	return len(procs), err
}
