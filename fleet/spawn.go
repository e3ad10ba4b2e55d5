package fleet

import (
	"os/exec"

	"github.com/nslab/nslab/internal/child"
)

// run starts cmd as a child that dies with nslab (SIGKILL at its death),
// so that an nslab killed during up leaves no ssh on its way to start a
// share on a host after the next down has removed the lab there; and
// waits for it.
func run(cmd *exec.Cmd) error { return child.Run(cmd) }
