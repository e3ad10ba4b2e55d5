package plan

import (
	"slices"
	"strings"
	"testing"

	"github.com/nslab/nslab/kernel"
)

// TestKernelNamesCarryPrefixes: every kernel name plan gives a lab's link
// in the root namespace starts with one of kernel.NamePrefixes (the
// firewall tells labs' links from the host's by them), fits IFNAMSIZ, and
// each kind of object has a prefix of its own.
func TestKernelNamesCarryPrefixes(t *testing.T) {
	names := map[string]string{
		kernel.BridgePrefix: BridgeName("lab", "br0"),
		kernel.PortPrefix:   PortName("lab", "a", "eth0"),
		kernel.HostPrefix:   HostIfName("lab", "up0"),
		kernel.TrunkPrefix:  TrunkName("lab", "br0", "a"),
	}
	if len(names) != len(kernel.NamePrefixes()) {
		t.Fatalf("%d kinds of root link, %d prefixes in kernel.NamePrefixes", len(names), len(kernel.NamePrefixes()))
	}
	for prefix, name := range names {
		if !strings.HasPrefix(name, prefix) || !slices.Contains(kernel.NamePrefixes(), prefix) {
			t.Errorf("%s: want the prefix %s, one of %v", name, prefix, kernel.NamePrefixes())
		}
		if len(name) > 15 {
			t.Errorf("%s: %d bytes, more than IFNAMSIZ allows", name, len(name))
		}
	}
}
