// Package child starts programs that die with the process that started
// them: an nslab (or a test binary) killed by SIGKILL or by go test's
// timeout leaves no ssh on its way to a host, no qemu spinning.
//
// The kernel sends a child its death signal (PR_SET_PDEATHSIG) when the
// thread that forked it exits, not the process: Go may end a thread (a
// goroutine locked to it returns), so the children are forked by one
// goroutine locked to its thread for the life of the process.
package child

import (
	"os/exec"
	"runtime"
	"sync"
	"syscall"
)

type request struct {
	cmd  *exec.Cmd
	done chan error
}

var (
	once     sync.Once
	requests = make(chan request)
)

func forker() {
	runtime.LockOSThread() // never unlocked: the thread lives as long as the process
	for r := range requests {
		r.done <- r.cmd.Start()
	}
}

// Start starts cmd with SIGKILL as its death signal (kept when the caller
// set another), forked from a thread that lives as long as the process.
func Start(cmd *exec.Cmd) error {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	if cmd.SysProcAttr.Pdeathsig == 0 {
		cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	}
	once.Do(func() { go forker() })
	done := make(chan error, 1)
	requests <- request{cmd, done}
	return <-done
}

// Run starts cmd as Start does and waits for it.
func Run(cmd *exec.Cmd) error {
	if err := Start(cmd); err != nil {
		return err
	}
	return cmd.Wait()
}
