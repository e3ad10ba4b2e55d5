package check

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// TestRunRefusesRootNamespace: a node without a namespace is never
// probed from the caller's namespace. Needs no privilege: nothing is
// sent.
func TestRunRefusesRootNamespace(t *testing.T) {
	lab := routedLab("router")
	r, err := Run(context.Background(), lab, func(string) string { return "" }, Options{})
	if err == nil || !strings.Contains(err.Error(), "no namespace to probe from") {
		t.Errorf("Run() error = %v, want a refusal", err)
	}
	if r.Passed != 0 || r.Failed != len(r.Probes) || r.Failed == 0 {
		t.Errorf("Run() passed %d failed %d of %d", r.Passed, r.Failed, len(r.Probes))
	}
}

// TestRunCanceled: with ctx already done, nothing is sent and every
// probe says why. Needs no privilege.
func TestRunCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r, err := Run(ctx, routedLab("router"), func(string) string { return "/nonexistent" }, Options{})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Run() error = %v, want context.Canceled", err)
	}
	for _, p := range r.Probes {
		if p.OK || p.Err != "stopped: context canceled" {
			t.Errorf("probe %s -> %s: ok=%v err=%q", p.From, p.To, p.OK, p.Err)
		}
	}
	if r.Failed != len(r.Probes) || r.Failed == 0 || r.Mode != ModeFull {
		t.Errorf("Run() mode %q, failed %d of %d", r.Mode, r.Failed, len(r.Probes))
	}
}
