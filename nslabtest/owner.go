package nslabtest

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// owner names a process for good: its pid and its start time (in clock
// ticks since boot, /proc/PID/stat's 22nd field), so that a pid the
// kernel gave again to another process is not taken for the one that
// died.
type owner struct {
	pid   int
	start uint64 // 0: unknown (a record of a pid alone)
}

// self is this test process.
func self() owner {
	pid := os.Getpid()
	start, _ := startTime(pid)
	return owner{pid, start}
}

func (o owner) String() string { return fmt.Sprintf("%d %d", o.pid, o.start) }

// parseOwner reads "PID START" or, as older records have it, "PID".
func parseOwner(s string) (owner, bool) {
	f := strings.Fields(s)
	if len(f) == 0 || len(f) > 2 {
		return owner{}, false
	}
	pid, err := strconv.Atoi(f[0])
	if err != nil || pid <= 0 {
		return owner{}, false
	}
	o := owner{pid: pid}
	if len(f) == 2 {
		if o.start, err = strconv.ParseUint(f[1], 10, 64); err != nil {
			return owner{}, false
		}
	}
	return o, true
}

// alive reports whether the process still runs: a process of that pid
// that started at the recorded time.
func (o owner) alive() bool {
	if syscall.Kill(o.pid, 0) == syscall.ESRCH {
		return false
	}
	if o.start == 0 {
		return true
	}
	start, err := startTime(o.pid)
	return err != nil || start == o.start // unreadable: assume it lives
}

// startTime reads when process pid started, in clock ticks since boot.
func startTime(pid int) (uint64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name, in parentheses, may hold spaces: count fields
	// after its closing one. The state is field 3, the start time 22.
	i := strings.LastIndexByte(string(data), ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	f := strings.Fields(string(data[i+1:]))
	if len(f) < 20 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f)+2)
	}
	return strconv.ParseUint(f[19], 10, 64)
}
