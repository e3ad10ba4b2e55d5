package lab_test

import (
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nslab/nslab/internal/labtest"
	"github.com/nslab/nslab/kernel"
	"github.com/nslab/nslab/lab"
	"github.com/nslab/nslab/plan"
	"github.com/nslab/nslab/topology"
)

// needNetem skips a test on a kernel without the netem qdisc: there
// TestInStockKernel runs it in the stock-kernel VM.
func needNetem(t *testing.T) {
	t.Helper()
	labtest.RequireRoot(t)
	labtest.Kernel(t)
	if err := kernel.QdiscSupported("netem"); err != nil {
		t.Skipf("this kernel has no netem qdisc (sch_netem): TestInStockKernel runs this test in a stock kernel (%v)", err)
	}
}

// handshake is the time a TCP connect takes from node from to addr:port
// in node to: one round trip.
func handshake(t *testing.T, tl *topology.Lab, from, to, addr string) time.Duration {
	t.Helper()
	var ln net.Listener
	err := kernel.Do(kernel.NetnsPath(plan.NetnsName(tl.Name, to)), func() (err error) {
		ln, err = net.Listen("tcp", net.JoinHostPort(addr, "0"))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	var d time.Duration
	err = kernel.Do(kernel.NetnsPath(plan.NetnsName(tl.Name, from)), func() error {
		start := time.Now()
		c, err := net.DialTimeout("tcp", ln.Addr().String(), 10*time.Second)
		d = time.Since(start)
		if err == nil {
			c.Close()
		}
		return err
	})
	if err != nil {
		t.Fatalf("%s to %s: %v", from, to, err)
	}
	return d
}

// rtts takes n handshakes from one node to another.
func rtts(t *testing.T, tl *topology.Lab, from, to, addr string, n int) []time.Duration {
	var out []time.Duration
	for range n {
		out = append(out, handshake(t, tl, from, to, addr))
	}
	return out
}

func ms(d time.Duration) float64 { return float64(d) / 1e6 }

// udpArrived sends n datagrams from one node to addr in another, paced, and
// returns the share that arrived.
func udpArrived(t *testing.T, tl *topology.Lab, from, to, addr string, n int) float64 {
	t.Helper()
	var pc net.PacketConn
	err := kernel.Do(kernel.NetnsPath(plan.NetnsName(tl.Name, to)), func() (err error) {
		pc, err = net.ListenPacket("udp", net.JoinHostPort(addr, "0"))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	got := make(chan int)
	go func() {
		seen := map[string]bool{}
		buf := make([]byte, 64)
		for {
			pc.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
			k, _, err := pc.ReadFrom(buf)
			if err != nil {
				got <- len(seen)
				return
			}
			seen[string(buf[:k])] = true
		}
	}()
	err = kernel.Do(kernel.NetnsPath(plan.NetnsName(tl.Name, from)), func() error {
		c, err := net.Dial("udp", pc.LocalAddr().String())
		if err != nil {
			return err
		}
		defer c.Close()
		for i := range n {
			if _, err := fmt.Fprintf(c, "%d", i); err != nil {
				return err
			}
			if i%50 == 49 {
				time.Sleep(5 * time.Millisecond)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return float64(<-got) / float64(n)
}

// TestNetemMeasured measures netem shapes as the file writes them, both
// ways, against an unshaped cable from the same node: a 50ms delay makes
// a 100ms round trip; a 20ms jitter spreads it as two uniform draws of
// ±20ms do; a 10% loss loses about 10% of datagrams each way. status reads
// every shape back in the file's units.
func TestNetemMeasured(t *testing.T) {
	needNetem(t)
	sub := labtest.Subnet(t)
	tl := up(t, fmt.Sprintf(`
nodes:
  a:
    interfaces:
      eth0: {link: b:eth0, addresses: [%[1]s.1/30], shape: {delay: 50ms}}
      eth1: {link: c:eth0, addresses: [%[1]s.5/30]}
      eth2: {link: d:eth0, addresses: [%[1]s.9/30], shape: {delay: 50ms, jitter: 20ms}}
      eth3: {link: e:eth0, addresses: [%[1]s.13/30], shape: {loss: 10%%}}
  b: {interfaces: {eth0: {addresses: [%[1]s.2/30]}}}
  c: {interfaces: {eth0: {addresses: [%[1]s.6/30]}}}
  d: {interfaces: {eth0: {addresses: [%[1]s.10/30]}}}
  e: {interfaces: {eth0: {addresses: [%[1]s.14/30]}}}
`, sub))
	unshaped := rtts(t, tl, "a", "c", sub+".6", 20)
	slices.Sort(unshaped)
	base, baseMed := unshaped[0], unshaped[len(unshaped)/2]
	delayAB := slices.Min(rtts(t, tl, "a", "b", sub+".2", 10))
	delayBA := slices.Min(rtts(t, tl, "b", "a", sub+".1", 10))
	t.Logf("round trip unshaped %.2fms; delay 50ms: a to b %.2fms, b to a %.2fms", ms(base), ms(delayAB), ms(delayBA))
	// netem's delay is a floor: no round trip is shorter than 100ms; the
	// machine's own time (the unshaped round trip) may add to it.
	for _, d := range []time.Duration{delayAB, delayBA} {
		if d < 100*time.Millisecond || d-base > 110*time.Millisecond {
			t.Errorf("round trip %.2fms through a 50ms delay each way (%.2fms unshaped), want at least 100ms and at most 110ms over the unshaped", ms(d), ms(base))
		}
	}

	// Each way is uniform in 50ms±20ms: the round trip is spread as a
	// triangle on 60..140ms, median 100ms, quartiles 88.3ms and 111.7ms
	// (23.4ms apart). Quartiles, not mean and deviation: a round trip the
	// busy machine stalled (262ms once in a VM under load) moves those.
	jit := rtts(t, tl, "a", "d", sub+".10", 60)
	slices.Sort(jit)
	q1, med, q3 := jit[len(jit)/4], jit[len(jit)/2], jit[len(jit)*3/4]
	t.Logf("delay 50ms jitter 20ms, %d round trips: min %.1fms, quartiles %.1fms %.1fms %.1fms, max %.1fms (unshaped: median %.2fms)",
		len(jit), ms(jit[0]), ms(q1), ms(med), ms(q3), ms(jit[len(jit)-1]), ms(baseMed))
	if jit[0] < 60*time.Millisecond {
		t.Errorf("shortest round trip with jitter %.1fms, want at least 60ms", ms(jit[0]))
	}
	if m := med - baseMed; m < 90*time.Millisecond || m > 112*time.Millisecond {
		t.Errorf("median round trip with jitter %.1fms over the unshaped median, want 90ms to 112ms", ms(m))
	}
	if iqr := q3 - q1; iqr < 12*time.Millisecond || iqr > 36*time.Millisecond {
		t.Errorf("round trips with a 20ms jitter have quartiles %.1fms apart, want 12ms to 36ms (23.4ms)", ms(iqr))
	}

	const n = 2000
	ae := udpArrived(t, tl, "a", "e", sub+".14", n)
	ea := udpArrived(t, tl, "e", "a", sub+".13", n)
	t.Logf("loss 10%%, %d datagrams each way: a to e %.1f%% arrived, e to a %.1f%%", n, ae*100, ea*100)
	// 10% of 2000 is 200 lost, with a deviation of 13.4: within 4 of them.
	for _, got := range []float64{ae, ea} {
		if got < 0.873 || got > 0.927 {
			t.Errorf("%.1f%% arrived through a 10%% loss, want 87.3%% to 92.7%%", got*100)
		}
	}

	st, err := lab.GetStatus(tl.Name)
	if err != nil {
		t.Fatal(err)
	}
	var shapes []string
	for _, n := range st.Nodes {
		for _, i := range n.Interfaces {
			if i.Shape != "" {
				shapes = append(shapes, n.Name+":"+i.Name+" "+i.Shape)
			}
		}
	}
	want := []string{
		"a:eth0 delay 50ms", "a:eth2 delay 50ms, jitter 20ms", "a:eth3 loss 10%",
		"b:eth0 delay 50ms", "d:eth0 delay 50ms, jitter 20ms", "e:eth0 loss 10%",
	}
	if strings.Join(shapes, "\n") != strings.Join(want, "\n") {
		t.Errorf("status reads the shapes back as\n%s\nwant\n%s", strings.Join(shapes, "\n"), strings.Join(want, "\n"))
	}
}
