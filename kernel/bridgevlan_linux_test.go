package kernel

import (
	"os"
	"strings"
	"testing"
)

// TestBridgeVLANSupported: the probe agrees with the kernel, and when the
// kernel lacks VLAN filtering it says it is a build option, not a module
// to load.
func TestBridgeVLANSupported(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to make a bridge in a throwaway namespace")
	}
	err := BridgeVLANSupported()
	t.Logf("bridge VLAN filtering on this kernel: %v", err)
	if err != nil && (!strings.Contains(err.Error(), "CONFIG_BRIDGE_VLAN_FILTERING") || strings.Contains(err.Error(), "modprobe")) {
		t.Errorf("the probe's error %q should name the build option and not propose modprobe", err)
	}
}
