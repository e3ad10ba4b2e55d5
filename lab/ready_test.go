package lab

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestStallContextWaitsWhileLinksComeUp: the wait for links goes on for as
// long as links keep coming up, past the stall time in all (a fixed 10 s
// for the whole wait failed ups of small labs at load 16 while links still
// came up), and ends with the stall as its cause once none has come up for
// that long.
func TestStallContextWaitsWhileLinksComeUp(t *testing.T) {
	const stall = 100 * time.Millisecond
	ctx, progress, stop := stallContext(context.Background(), stall)
	defer stop()
	end := time.Now().Add(5 * stall)
	var last time.Time
	for time.Now().Before(end) {
		progress()
		last = time.Now()
		time.Sleep(stall / 4)
		if ctx.Err() != nil {
			t.Fatalf("the wait ended after %v while links came up every %v: %v", time.Until(end)+5*stall, stall/4, context.Cause(ctx))
		}
	}
	select {
	case <-ctx.Done():
	case <-time.After(20 * stall):
		t.Fatalf("the wait did not end %v after the last link came up", 20*stall)
	}
	if took := time.Since(last); took < stall {
		t.Errorf("the wait ended %v after the last link came up, before the stall time %v", took, stall)
	}
	var s stalled
	if !errors.As(context.Cause(ctx), &s) || s.Error() != "no link came up for 100ms" {
		t.Errorf("cause %v; want the stall", context.Cause(ctx))
	}
}

// TestStallContextStop: stopping ends the context without a stall.
func TestStallContextStop(t *testing.T) {
	ctx, _, stop := stallContext(context.Background(), time.Hour)
	stop()
	stop()
	<-ctx.Done()
	var s stalled
	if errors.As(context.Cause(ctx), &s) {
		t.Errorf("stopped context's cause is a stall: %v", context.Cause(ctx))
	}
}
