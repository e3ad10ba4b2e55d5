//go:build unix

package topology

import (
	"syscall"
	"time"
)

// cpuTime is the CPU time (user and system) the test process has used:
// what a parse costs, whatever else the machine is doing. The package's
// tests do not run in parallel, so a delta is the parse's (and the
// garbage collector's).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
