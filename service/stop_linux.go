package service

import (
	"slices"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// DefaultStopGrace is how long a service has after its stop signal
// before SIGKILL when its definition gives no grace.
const DefaultStopGrace = 10 * time.Second

// killWait bounds the wait for a process after SIGKILL.
const killWait = 2 * time.Second

// target is a running service to stop.
type target struct {
	ref   string
	pid   int
	pidfd int
	child bool // of the calling process: reaped after
	sig   string
	grace time.Duration
	after []string
}

// stopTargets stops ts in the reverse order of after: (a service after
// the ones it came after), each wave at once: the stop signal to the
// service's process group, its grace, then SIGKILL to the group. It
// returns how each ended. It is bounded: the waves' longest graces plus
// killWait each.
func stopTargets(ts []target) []string {
	exits := make([]string, len(ts))
	left := make([]int, len(ts))
	for i := range ts {
		left[i] = i
	}
	for len(left) > 0 {
		// The wave: those that nothing left comes after.
		var wave, rest []int
		for _, i := range left {
			needed := slices.ContainsFunc(left, func(j int) bool { return slices.Contains(ts[j].after, ts[i].ref) })
			if needed {
				rest = append(rest, i)
			} else {
				wave = append(wave, i)
			}
		}
		if len(wave) == 0 { // a cycle, which validation refuses: all at once
			wave, rest = rest, nil
		}
		var wg sync.WaitGroup
		for _, i := range wave {
			wg.Add(1)
			go func() {
				defer wg.Done()
				exits[i] = stopOne(ts[i])
			}()
		}
		wg.Wait()
		left = rest
	}
	return exits
}

func stopOne(t target) string {
	sig := unix.SIGTERM
	if t.sig != "" {
		if n := unix.SignalNum(t.sig); n != 0 {
			sig = n
		} else if n := unix.SignalNum("SIG" + t.sig); n != 0 {
			sig = n
		}
	}
	signalGroup(t.pid, t.pidfd, sig)
	how := "stopped by " + unix.SignalName(sig)
	if !exited(t.pidfd, cmpOr(t.grace, DefaultStopGrace)) {
		signalGroup(t.pid, t.pidfd, unix.SIGKILL)
		how = "killed after its grace"
		exited(t.pidfd, killWait)
	}
	if t.child {
		// What it left in its group, while its zombie holds the pid.
		unix.Kill(-t.pid, unix.SIGKILL)
		if e, ok := reap(t.pidfd); ok {
			how += " (" + e + ")"
		}
	}
	return how
}

// stopBound is how long stopping ts may take at most: for each wave of
// stopTargets its longest grace and killWait.
func stopBound(ts []target) time.Duration {
	var total time.Duration
	left := slices.Clone(ts)
	for len(left) > 0 {
		var rest []target
		var longest time.Duration
		for _, t := range left {
			if slices.ContainsFunc(left, func(u target) bool { return slices.Contains(u.after, t.ref) }) {
				rest = append(rest, t)
			} else {
				longest = max(longest, cmpOr(t.grace, DefaultStopGrace))
			}
		}
		if len(rest) == len(left) {
			rest = nil
			for _, t := range left {
				longest = max(longest, cmpOr(t.grace, DefaultStopGrace))
			}
		}
		total += longest + killWait
		left = rest
	}
	return total
}
