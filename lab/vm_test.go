package lab_test

import (
	"errors"
	"net"
	"os"
	"slices"
	"strings"

	"github.com/nslab/nslab/nslabtest"
	"testing"

	"github.com/nslab/nslab/internal/stockvm"
	"github.com/nslab/nslab/kernel"
)

// vmNeeds lists this package's tests of kernel features that a host's
// kernel may lack, with the probe of each feature: where the probe fails,
// TestInStockKernel runs those tests in Debian's stock kernel under qemu.
// Add a line per feature; the tests named must skip, with the reason, on
// a kernel without it.
var vmNeeds = []struct {
	tests []string
	has   func() error
}{
	{[]string{"TestStockKernelGuestIsolated", "TestShapeDelayLoss", "TestNetemMeasured", "TestNetemDuplicateReorderCorrupt", "TestMeasureNetemDelay"},
		func() error { return kernel.QdiscSupported("netem") }},
	{[]string{"TestBridgeVLANs"}, kernel.BridgeVLANSupported},
	{[]string{"TestVLANIsolation"}, func() error { return kernel.IfaceSupported("vlan") }},
	{[]string{"TestBondActiveBackupFailover", "TestBond8023ad"}, func() error { return kernel.IfaceSupported("bond") }},
	{[]string{"TestVRFAutoRouting"}, func() error { return kernel.IfaceSupported("vrf") }},
	{[]string{"TestVRFLite", "TestKindsExamples"}, func() error {
		return errors.Join(kernel.IfaceSupported("vrf"), kernel.IfaceSupported("dummy"), kernel.IfaceSupported("bond"),
			kernel.IfaceSupported("vlan"), kernel.BridgeVLANSupported())
	}},
}

// TestInStockKernel runs this package's tests of kernel features the
// host lacks in a stock-kernel VM, one VM for all of them, and reports
// their results (see internal/stockvm).
func TestInStockKernel(t *testing.T) {
	var tests []string
	var lack []error
	for _, n := range vmNeeds {
		if err := n.has(); err != nil {
			tests = append(tests, n.tests...)
			lack = append(lack, err)
		}
	}
	if len(tests) > 0 && !slices.Contains(tests, "TestStockKernelGuestIsolated") {
		tests = append(tests, "TestStockKernelGuestIsolated")
	}
	stockvm.Test(t, "^("+strings.Join(tests, "|")+")$", func() error { return errors.Join(lack...) })
}

// TestStockKernelGuestIsolated runs in the VM only: the guest has no
// network device of its own (qemu -nic none), so nothing a test does in
// it reaches outside the machine.
func TestStockKernelGuestIsolated(t *testing.T) {
	if os.Getenv(stockvm.InVM) == "" {
		t.Skip("runs in the stock-kernel VM (TestInStockKernel)")
	}
	nslabtest.Kernel(t)
	ifs, err := net.Interfaces()
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range ifs {
		if i.Name != "lo" {
			t.Errorf("the guest has interface %s besides lo", i.Name)
		}
	}
}
