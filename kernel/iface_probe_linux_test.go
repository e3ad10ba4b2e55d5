package kernel

import (
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestIfaceSupportedSaysWhy probes every kind: on a kernel without one,
// the error names its module, and on a kernel that cannot load modules
// it does not tell the user to modprobe.
func TestIfaceSupportedSaysWhy(t *testing.T) {
	if unix.Geteuid() != 0 {
		t.Skip("needs root (a throwaway namespace)")
	}
	for _, kind := range []string{"vlan", "dummy", "macvlan", "ipvlan", "bond", "vrf"} {
		err := IfaceSupported(kind)
		t.Logf("%s: %v", kind, err)
		if err == nil {
			continue
		}
		msg := err.Error()
		if !strings.Contains(msg, "module "+IfaceModule(kind)) {
			t.Errorf("%s: %q does not name module %s", kind, msg, IfaceModule(kind))
		}
		if modulesWhy() != "" && strings.Contains(msg, "modprobe") {
			t.Errorf("%s: %q proposes modprobe on a kernel that loads no modules (%s)", kind, msg, modulesWhy())
		}
	}
}
