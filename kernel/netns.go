package kernel

import (
	"path/filepath"
)

// NetnsDir is where named network namespaces live, as with ip netns.
const NetnsDir = "/run/netns"

// NetnsPath returns the bind-mount path of a named namespace.
func NetnsPath(name string) string { return filepath.Join(NetnsDir, name) }

// EtcNetnsDir holds per-namespace files that replace those of /etc, as
// with ip netns exec: /etc/netns/NAME/resolv.conf over /etc/resolv.conf.
const EtcNetnsDir = "/etc/netns"
