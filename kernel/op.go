package kernel

import (
	"errors"
	"fmt"
	"strings"
	"syscall"
)

// Op is one idempotent-by-plan kernel operation. Ops are computed by the
// plan package and executed by the lab package; String renders the
// iproute2 commands that do the same by hand. On Linux an Op also has
//
//	Apply(c *Conn) error
//
// which performs it; elsewhere Ops are planned and rendered only, so that
// the packages that make plans build on any OS.
type Op interface {
	// Namespace is the named namespace the operation works in, "" for
	// the root namespace. Operations of one namespace run in order.
	Namespace() string
	// applier performs the operation: Apply(c *Conn) error, on Linux
	// only (op_linux.go). Elsewhere an Op can be planned and rendered.
	applier
	// String returns the equivalent ip commands, one per line.
	String() string
}

// OpError is a failed kernel operation: where it ran, what it did and why
// it failed.
type OpError struct {
	// NS is the namespace, "" for the host.
	NS string
	// Op describes the operation, as in "adding address 10.0.0.2/24 to eth0".
	Op  string
	Err error
}

func (e *OpError) Error() string {
	where := e.NS
	if where == "" {
		where = "host"
	}
	return where + ": " + e.Detail()
}

// Detail is the error without the namespace: what failed and why.
func (e *OpError) Detail() string {
	msg := fmt.Sprintf("%s: %v", e.Op, e.Err)
	if hint := hint(e.Err); hint != "" {
		msg += " (" + hint + ")"
	}
	return msg
}

func (e *OpError) Unwrap() error { return e.Err }

func opErr(ns, op string, err error) error {
	if err == nil {
		return nil
	}
	return &OpError{NS: ns, Op: op, Err: err}
}

// hint says what a user can do about common kernel errors.
func hint(err error) string {
	switch {
	case errors.Is(err, syscall.EPERM), errors.Is(err, syscall.EACCES):
		return "nslab needs root, or CAP_NET_ADMIN, CAP_SYS_ADMIN and CAP_DAC_OVERRIDE"
	case errors.Is(err, syscall.EEXIST):
		return "something else made an object of that name; remove it or rename yours"
	case errors.Is(err, syscall.EOPNOTSUPP), errors.Is(err, syscall.EAFNOSUPPORT):
		if why := modulesWhy(); why != "" {
			return "this kernel lacks the feature and cannot load modules (" + why + "): use a kernel that has it"
		}
		return "this kernel lacks the feature; load its module with modprobe"
	case errors.Is(err, syscall.ENETUNREACH):
		return "the gateway is not on a connected subnet of this node"
	}
	return ""
}

// ipn renders the "ip" prefix for a namespace: "ip" or "ip -n NS".
func ipn(ns string) string {
	if ns == "" {
		return "ip"
	}
	return "ip -n " + ns
}

func lines(s ...string) string { return strings.Join(s, "\n") }
