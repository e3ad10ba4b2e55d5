package kernel

import (
	"fmt"
	"path/filepath"
	"strings"
)

// Sysctl is one setting under /proc/sys, as "net.ipv4.ip_forward" = "1".
type Sysctl struct {
	Key   string
	Value string
}

// rel is the setting's path below /proc.
func (s Sysctl) rel() string {
	return filepath.Join("sys", strings.ReplaceAll(s.Key, ".", "/"))
}

// SysctlError is a setting the kernel refused.
type SysctlError struct {
	Key, Value string
	Err        error
}

func (e *SysctlError) Unwrap() error { return e.Err }

// NetnsAdd creates a named network namespace that ip netns sees, brings
// its loopback up, marks the loopback with Marker as alias and applies
// Sysctls before any other interface exists.
//
// Equivalent to: ip netns add NAME; ip -n NAME link set lo up alias MARKER;
// ip netns exec NAME sysctl -w KEY=VALUE...; and, with a Holder, the
// node's UTS namespace (see MakeUTS).
type NetnsAdd struct {
	Name    string
	Marker  string
	Sysctls []Sysctl
	// Holder, Node and Hostname give the node a UTS namespace of its own
	// named Hostname, kept as /Node in the lab's holder (EnsureUTSHolder).
	Holder, Node, Hostname string
}

func (o *NetnsAdd) Namespace() string { return o.Name }

func (o *NetnsAdd) String() string {
	out := []string{
		"ip netns add " + o.Name,
		fmt.Sprintf("ip -n %s link set lo up alias %q", o.Name, o.Marker),
	}
	for _, s := range o.Sysctls {
		out = append(out, fmt.Sprintf("ip netns exec %s sysctl -qw %s=%s", o.Name, s.Key, s.Value))
	}
	if o.Holder != "" {
		out = append(out, utsCommand(o.Holder, o.Node, "unshare --uts", o.Hostname))
	}
	return lines(out...)
}

func utsCommand(holder, node, enter, hostname string) string {
	return fmt.Sprintf("nsenter --mount=%s %s=/%s hostname %s", holder, enter, node, hostname)
}

// HostnameSet changes a node's hostname in its kept UTS namespace, or
// gives it one when the lab's holder lacks it.
type HostnameSet struct{ NS, Holder, Node, Hostname string }

func (o *HostnameSet) Namespace() string { return o.NS }

func (o *HostnameSet) String() string {
	return utsCommand(o.Holder, o.Node, "nsenter --uts", o.Hostname)
}

// NetnsDel removes a named namespace. The kernel frees it, with every
// interface inside, once no process holds it any more.
//
// Equivalent to: ip netns delete NAME
// With a Holder it also unbinds the node's UTS namespace from it.
//
// With Hold the Conn keeps the namespace open after the unmount, until
// a NetnsRelease: the kernel then frees the namespaces of a whole lab in
// one batch. Freed one by one, each namespace's cleanup walks every
// namespace still alive (cleanup_net's unhash_nsid: a lock and an id
// lookup in each), which made the kernel's work for a 10,000-node down
// quadratic; freed together, the walk passes over the others only.
type NetnsDel struct {
	Name, Holder, Node string
	Hold               bool
}

func (o *NetnsDel) Namespace() string { return o.Name }

func (o *NetnsDel) String() string {
	if o.Holder != "" {
		return lines("ip netns delete "+o.Name, fmt.Sprintf("nsenter --mount=%s umount /%s", o.Holder, o.Node))
	}
	return "ip netns delete " + o.Name
}

// SysctlSet applies settings inside a namespace; NS "" is the root
// namespace, for settings of the lab's own links there.
//
// Equivalent to: ip netns exec NS sysctl -w KEY=VALUE
type SysctlSet struct {
	NS       string
	Settings []Sysctl
}

func (o *SysctlSet) Namespace() string { return o.NS }

func (o *SysctlSet) String() string {
	out := make([]string, len(o.Settings))
	for i, s := range o.Settings {
		kv := s.Key + "=" + s.Value
		if strings.Contains(s.Value, " ") {
			kv = "'" + kv + "'" // values are checked: no quote, $ or ; in them
		}
		out[i] = fmt.Sprintf("ip netns exec %s sysctl -qw %s", o.NS, kv)
		if o.NS == "" {
			out[i] = "sysctl -qw " + kv
		}
	}
	return lines(out...)
}

// NetnsRelease lets go of the namespaces that NetnsDel ops with Hold
// kept open, all at once, so that the kernel frees them in one batch.
//
// Equivalent to: nothing (ip netns delete lets go of each at once).
type NetnsRelease struct{}

func (o *NetnsRelease) Namespace() string { return "" }

func (o *NetnsRelease) String() string {
	return "# the namespaces above are freed by the kernel together"
}
