package fleet

import (
	"os/exec"

	"github.com/nslab/nslab/internal/child"
)

// run starts cmd as a child that dies with nslab (SIGKILL at its death),
// so that an nslab killed during up leaves no ssh on its way to start a
// share on a host after the next down has removed the lab there; and
// waits for it. Under sudo it runs as the user who ran sudo (asInvoker).
func run(cmd *exec.Cmd) error {
	asInvoker(cmd)
	return child.Run(cmd)
}
