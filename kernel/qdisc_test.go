package kernel_test

import (
	"testing"
	"time"

	"github.com/nslab/nslab/kernel"
)

// TestShapeString pins the qdisc each shape is made of, as tc writes it.
func TestShapeString(t *testing.T) {
	for _, c := range []struct {
		s    kernel.Shape
		want string
	}{
		// A rate alone: tbf; the bucket holds 10ms of the rate, at least
		// 16 KiB and ten packets, the queue 50ms more.
		{kernel.Shape{Rate: 10e6}, "tbf rate 10mbit burst 16384 limit 78884"},
		{kernel.Shape{Rate: 1e9}, "tbf rate 1gbit burst 1250000 limit 7500000"},
		{kernel.Shape{Rate: 64e3}, "tbf rate 64kbit burst 16384 limit 16784"},
		{kernel.Shape{Rate: 10e6, MTU: 9000}, "tbf rate 10mbit burst 90140 limit 152640"},
		{kernel.Shape{Rate: 1500}, "tbf rate 1500bit burst 16384 limit 16393"},
		// Delay, jitter or loss: netem, with the rate in it; its queue
		// holds twice the packets of delay+jitter, at least 1000.
		{kernel.Shape{Delay: 20 * time.Millisecond}, "netem limit 49537 delay 20ms"},
		{kernel.Shape{Rate: 10e6, Delay: 20 * time.Millisecond, Jitter: 2500 * time.Microsecond, Loss: 0.5}, "netem limit 1000 delay 20ms 2500us loss 0.5% rate 10mbit"},
		{kernel.Shape{Loss: 100}, "netem limit 1000 loss 100%"},
		// Duplicate, reorder and corrupt alone make a netem qdisc too.
		{kernel.Shape{Duplicate: 20}, "netem limit 1000 duplicate 20%"},
		{kernel.Shape{Rate: 1e6, Delay: 10 * time.Millisecond, Reorder: 25, Corrupt: 0.1}, "netem limit 1000 delay 10ms reorder 25% corrupt 0.1% rate 1mbit"},
		{kernel.Shape{Rate: 1e9, Delay: time.Second}, "netem limit 165125 delay 1000ms rate 1gbit"},
	} {
		if got := c.s.String(); got != c.want {
			t.Errorf("%+v: %q, want %q", c.s, got, c.want)
		}
	}
}

// TestQdiscSetString: a change of shape takes the old qdisc off first,
// as tc by hand must (a tbf changed in place can stall).
func TestQdiscSetString(t *testing.T) {
	s := &kernel.Shape{Rate: 10e6}
	for _, c := range []struct {
		op   kernel.QdiscSet
		want string
	}{
		{kernel.QdiscSet{NS: "l.a", Name: "eth0", Shape: s}, "tc -n l.a qdisc add dev eth0 root handle 1: tbf rate 10mbit burst 16384 limit 78884"},
		{kernel.QdiscSet{Name: "np-x", Shape: s, Replace: true}, "tc qdisc del dev np-x root\ntc qdisc add dev np-x root handle 1: tbf rate 10mbit burst 16384 limit 78884"},
		{kernel.QdiscSet{NS: "l.a", Name: "eth0"}, "tc -n l.a qdisc del dev eth0 root"},
	} {
		if got := c.op.String(); got != c.want {
			t.Errorf("%+v: %q, want %q", c.op, got, c.want)
		}
	}
}
