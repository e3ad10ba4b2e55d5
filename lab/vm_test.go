package lab_test

import (
	"net"
	"os"

	"github.com/nslab/nslab/nslabtest"
	"testing"

	"github.com/nslab/nslab/internal/stockvm"
	"github.com/nslab/nslab/kernel"
)

// netemTests need the netem qdisc: where the host's kernel lacks it,
// TestInStockKernel runs them in Debian's stock kernel under qemu.
const netemTests = "^(TestStockKernelGuestIsolated|TestShapeDelayLoss|TestNetemMeasured|TestNetemDuplicateReorderCorrupt)$"

// TestInStockKernel runs this package's tests of kernel features the
// host lacks in a stock-kernel VM, one VM for all of them, and reports
// their results (see internal/stockvm).
func TestInStockKernel(t *testing.T) {
	stockvm.Test(t, netemTests, func() error { return kernel.QdiscSupported("netem") })
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
