package lab_test

import (
	"testing"

	"github.com/nslab/nslab/internal/stockvm"
	"github.com/nslab/nslab/kernel"
)

// netemTests need the netem qdisc: where the host's kernel lacks it,
// TestInStockKernel runs them in Debian's stock kernel under qemu.
const netemTests = "^(TestShapeDelayLoss|TestNetemMeasured)$"

// TestInStockKernel runs this package's tests of kernel features the
// host lacks in a stock-kernel VM, one VM for all of them, and reports
// their results (see internal/stockvm).
func TestInStockKernel(t *testing.T) {
	stockvm.Test(t, netemTests, func() error { return kernel.QdiscSupported("netem") })
}
