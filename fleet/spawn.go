package fleet

import (
	"os/exec"
	"runtime"
	"sync"
	"syscall"
)

// The ssh clients nslab runs die with it (SIGKILL at its death), so that
// an nslab killed during up leaves no ssh on its way to start a share on
// a host after the next down has removed the lab there. The kernel sends
// a child's death signal when the thread that forked it exits, so they
// are forked by one goroutine locked to its thread for the process's life.
type spawnReq struct {
	cmd  *exec.Cmd
	done chan error
}

var (
	spawnOnce sync.Once
	spawns    = make(chan spawnReq)
)

func spawner() {
	runtime.LockOSThread() // never unlocked: the thread lives as long as nslab
	for r := range spawns {
		r.done <- r.cmd.Start()
	}
}

// run starts cmd as a child that dies with nslab and waits for it.
func run(cmd *exec.Cmd) error {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	spawnOnce.Do(func() { go spawner() })
	done := make(chan error, 1)
	spawns <- spawnReq{cmd, done}
	if err := <-done; err != nil {
		return err
	}
	return cmd.Wait()
}
