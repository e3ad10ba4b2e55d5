package kernel

import (
	"fmt"
)

// LinkGroupDel deletes every link of a link group in one request: the
// kernel removes them (and the peers of veth pairs) in one batch, far
// faster than one deletion per link. The plan uses it only for a group
// whose every link carries the lab's mark; Names lists them.
//
// Equivalent to: ip link delete group GROUP
type LinkGroupDel struct {
	Group uint32
	Names []string
}

func (o *LinkGroupDel) Namespace() string { return "" }

func (o *LinkGroupDel) String() string {
	return fmt.Sprintf("ip link delete group %d   # the lab's %d links", o.Group, len(o.Names))
}
