package service

import (
	"os"
)

// SupervisorName is argv[0] of a lab's supervisor: Apply starts one by
// re-executing the running binary (/proc/self/exe) as
// "nslab-supervise LAB".
const SupervisorName = "nslab-supervise"

// The supervisor is the running binary re-executed: nslab itself or any
// program or test binary that imports this package (through lab), which
// needs no hook of its own. Package initialisation recognises argv[0]
// and runs the supervisor instead of the program's main (or tests); it
// never returns then.
func init() {
	if len(os.Args) == 3 && os.Args[0] == SupervisorName {
		dir := os.Args[2]
		StateDir = func() string { return dir }
		os.Exit(supervise(os.Args[1]))
	}
}
