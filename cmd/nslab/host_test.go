package main

import (
	"strings"
	"sync"
	"testing"

	"github.com/nslab/nslab/nslabtest"
)

// TestConcurrentUpsClaimOnce: two nslab processes started at the same
// moment with labs on the same host-side subnet: exactly one builds, the
// other names the winner, 8 times of 8.
func TestConcurrentUpsClaimOnce(t *testing.T) {
	nslabtest.RequireRoot(t)
	for try := range 8 {
		sub := nslabtest.Subnet(t)
		fa, a := seedFile(t, sub)
		fb, b := seedFile(t, sub)
		var res [2]result
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i, f := range []string{fa, fb} {
			wg.Go(func() {
				<-start
				res[i] = nslab(t, "", "up", "-q", f)
			})
		}
		close(start)
		wg.Wait()
		if (res[0].code == 0) == (res[1].code == 0) {
			t.Fatalf("try %d: up %s exited %d (%s), up %s exited %d (%s); want exactly one to build", try+1, a, res[0].code, res[0].stderr, b, res[1].code, res[1].stderr)
		}
		loser, winner := res[0], b
		if res[0].code == 0 {
			loser, winner = res[1], a
		}
		if !strings.Contains(loser.stderr, "overlaps") || !strings.Contains(loser.stderr, winner) {
			t.Errorf("try %d: the loser said %q; want an overlap naming %s", try+1, loser.stderr, winner)
		}
		nslab(t, "", "down", "--lab", a)
		nslab(t, "", "down", "--lab", b)
	}
}
