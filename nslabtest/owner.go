package nslabtest

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"

	"github.com/nslab/nslab/internal/procstat"
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
	_, start, err := procstat.Read(pid)
	return start, err
}
