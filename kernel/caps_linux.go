package kernel

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// Capabilities nslab needs: links and routes, namespaces and mounts, and
// its state and locks, which are root's alone (0700, 0600).
var neededCaps = []struct {
	bit  uint
	name string
}{{unix.CAP_NET_ADMIN, "CAP_NET_ADMIN"}, {unix.CAP_SYS_ADMIN, "CAP_SYS_ADMIN"}, {unix.CAP_DAC_OVERRIDE, "CAP_DAC_OVERRIDE"}}

// MissingCaps names the capabilities nslab needs that the effective set
// eff (a bit per capability, as capget returns it) lacks.
func MissingCaps(eff uint64) []string {
	var out []string
	for _, c := range neededCaps {
		if eff&(1<<c.bit) == 0 {
			out = append(out, c.name)
		}
	}
	return out
}

// EffectiveCaps returns the calling thread's effective capabilities.
//
// Equivalent to: grep CapEff /proc/self/status
func EffectiveCaps() (uint64, error) {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return 0, fmt.Errorf("reading this process's capabilities: %w", err)
	}
	return uint64(data[1].Effective)<<32 | uint64(data[0].Effective), nil
}

// MissingPrivileges names the capabilities nslab needs that this process
// lacks: none for root, CAP_NET_ADMIN, CAP_SYS_ADMIN and CAP_DAC_OVERRIDE for other users
// unless they were given them. It looks at the effective capabilities,
// not at the user id: root without them lacks them too.
func MissingPrivileges() ([]string, error) {
	eff, err := EffectiveCaps()
	if err != nil {
		return nil, err
	}
	return MissingCaps(eff), nil
}
