package kernel

import (
	"testing"
	"time"

	"github.com/vishvananda/netlink"
)

// TestNetemShapeReadBack: a netem qdisc read back from the kernel gives
// the shape it was made of. The kernel keeps delay and jitter in
// scheduler ticks and loss as a fraction of 2^32-1, as the qdisc nslab
// sends holds them (a 20ms delay read as 312.5ms before, loss 0.5% as
// 21474836%; duplicate, reorder and corrupt were not read back at all).
func TestNetemShapeReadBack(t *testing.T) {
	for _, s := range []Shape{
		{Delay: 20 * time.Millisecond},
		{Rate: 10e6, Delay: 20 * time.Millisecond, Jitter: 2500 * time.Microsecond, Loss: 0.5},
		{Loss: 100},
		{Loss: 0.01, Delay: time.Second},
		{Duplicate: 20},
		{Delay: 10 * time.Millisecond, Reorder: 25, Corrupt: 0.1},
		{Rate: 1e6, Delay: 5 * time.Millisecond, Loss: 1, Duplicate: 0.5, Reorder: 100, Corrupt: 2.5},
	} {
		q := s.qdisc(1, 1).(*netlink.Netem)
		if got := netemShape(q); got.String() != s.String() {
			t.Errorf("shape %s made, read back as %s", s.String(), got.String())
		}
	}
}
