package check

import (
	"context"
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
