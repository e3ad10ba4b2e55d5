package lab_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/nslab/nslab/lab"
	"github.com/nslab/nslab/nslabtest"
	"github.com/nslab/nslab/topology"
)

// TestProgressOfUpAndDown: up reports every operation of its plan and
// every link it waits for, down every operation of its own; each ends
// with all done, counts never go back.
func TestProgressOfUpAndDown(t *testing.T) {
	nslabtest.RequireRoot(t)
	sub := nslabtest.Subnet(t)
	var b strings.Builder
	fmt.Fprintf(&b, "bridges: {lan: {addresses: [%s.1/24]}}\nnodes:\n", sub)
	for i := range 20 {
		fmt.Fprintf(&b, "  n%d: {interfaces: {eth0: {link: lan, addresses: [%s.%d/24]}}}\n", i, sub, i+2)
	}
	name := nslabtest.Name("progress")
	nslabtest.CheckLeaksAtEnd(t, name)
	src := []byte("name: " + name + "\n" + b.String())
	tl, err := topology.Parse(name+".yaml", src)
	if err != nil {
		t.Fatal(err)
	}
	var reps []lab.Progress
	opt := lab.Options{Progress: func(r lab.Progress) { reps = append(reps, r) }}
	t.Cleanup(func() { lab.Down(context.Background(), name, lab.Options{}) })
	if err := lab.Up(context.Background(), tl, src, opt); err != nil {
		t.Fatalf("up: %v", err)
	}
	checkReports(t, "up", reps, "links up")
	reps = nil
	if err := lab.Down(context.Background(), name, opt); err != nil {
		t.Fatalf("down: %v", err)
	}
	checkReports(t, "down", reps, "release") // the namespaces, then the release of them all (plan.Down)
}

func checkReports(t *testing.T, what string, reps []lab.Progress, lastStage string) {
	t.Helper()
	if len(reps) == 0 {
		t.Fatalf("%s: no progress reported", what)
	}
	for i := 1; i < len(reps); i++ {
		if reps[i].Done < reps[i-1].Done || reps[i].Total != reps[0].Total || reps[i].Elapsed < reps[i-1].Elapsed {
			t.Fatalf("%s: report %d %+v after %+v", what, i, reps[i], reps[i-1])
		}
	}
	last := reps[len(reps)-1]
	if last.Done != last.Total || last.Stage != lastStage {
		t.Errorf("%s: last report %+v, want all done in stage %s", what, last, lastStage)
	}
	t.Logf("%s: %d reports, last %+v", what, len(reps), last)
}
