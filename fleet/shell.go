package fleet

import "context"

// Shell starts an interactive shell in a node of a lab across machines,
// on the node's host (nslab shell there), over ssh with a terminal of its
// own there when standard input is one here (ssh -t); it returns the
// shell's exit status.
func Shell(ctx context.Context, labName, node string, hr HostRecord, opt Options) (int, error) {
	return attached(ctx, labName, node, hr, []string{"shell", labName + "." + node}, true, opt)
}
