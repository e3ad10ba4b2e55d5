package check

import (
	"context"
	"fmt"
	"net/netip"
	"testing"
	"time"
)

// TestSessionSlowSend: a session whose requests take longer to send, all
// together, than a target's timeout (thousands of targets of a burst on
// a busy machine) still takes every answer that came in time. Each
// request is answered at once; sending them all takes 1.5 timeouts. The
// requests were all stamped with the time of the first, so the later
// ones were past their deadline when sent, and their answers, waiting
// behind the sending, lost the race with the deadline.
func TestSessionSlowSend(t *testing.T) {
	const n = 300
	opt := Options{Count: 1, Timeout: 200 * time.Millisecond}.withDefaults()
	targets := make([]Target, n)
	for i := range targets {
		targets[i] = Target{Addr: netip.AddrFrom4([4]byte{10, 99, byte(i >> 8), byte(i)})}
	}
	s := newSession(targets, opt)
	s.echo = newEchoID(opt.Count, true)
	s.replies = make(chan answer, n)
	perSend := opt.Timeout * 3 / 2 / n
	s.out = func(i int, _ []byte) error {
		time.Sleep(perSend)
		s.replies <- answer{idx: i, attempt: 0, at: time.Now()}
		return nil
	}
	start := time.Now()
	s.run(context.Background())
	t.Logf("%d targets sent in %v (timeout %v)", n, time.Since(start).Round(time.Millisecond), opt.Timeout)
	failed := 0
	var first string
	for _, r := range s.results {
		if !r.OK {
			if failed++; first == "" {
				first = fmt.Sprintf("%s: %s", r.Target.Addr, r.Err)
			}
		}
	}
	if failed > 0 {
		t.Errorf("%d of %d targets answered at once failed; the first: %s", failed, n, first)
	}
}
