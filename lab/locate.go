package lab

import (
	"errors"
	"fmt"

	"github.com/nslab/nslab/kernel"
	"github.com/nslab/nslab/plan"
	"github.com/nslab/nslab/topology"
)

// locate points a failed kernel operation in one of the lab's nodes at
// the node in the file, or at the setting the kernel refused.
func locate(t *topology.Lab, err error) error {
	var oe *kernel.OpError
	if !errors.As(err, &oe) || oe.NS == "" {
		return err
	}
	lab, name, ok := plan.SplitNetnsName(oe.NS)
	n := t.Node(name)
	if !ok || lab != t.Name || n == nil {
		return err
	}
	pos := n.Pos
	var se *kernel.SysctlError
	if errors.As(err, &se) {
		for _, s := range n.Sysctls {
			if s.Key == se.Key {
				pos = s.Pos
			}
		}
	}
	return &locatedError{msg: fmt.Sprintf("%s: node %s (namespace %s): %s", pos, name, oe.NS, oe.Detail()), err: err}
}

type locatedError struct {
	msg string
	err error
}

func (e *locatedError) Error() string { return e.msg }
func (e *locatedError) Unwrap() error { return e.err }
