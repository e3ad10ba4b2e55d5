// Package procstat reads /proc/PID/stat: a process's state and start
// time, which tell a pid's process from a later one that reuses the pid.
package procstat

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
)

// Read returns process pid's state (field 3 of /proc/PID/stat: R, S, D,
// Z for a zombie...) and start time (field 22: clock ticks since boot).
func Read(pid int) (state string, start uint64, err error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return "", 0, err
	}
	return parse(pid, b)
}

// parse reads a stat line. The command name (field 2) is in parentheses
// and may hold spaces and parentheses: fields are counted after the last
// closing one.
func parse(pid int, b []byte) (string, uint64, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return "", 0, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	f := bytes.Fields(b[i+1:])
	if len(f) < 20 {
		return "", 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f)+2)
	}
	start, err := strconv.ParseUint(string(f[19]), 10, 64)
	if err != nil {
		return "", 0, fmt.Errorf("/proc/%d/stat: start time %q: %w", pid, f[19], err)
	}
	return string(f[0]), start, nil
}
