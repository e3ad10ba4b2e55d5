package lab_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nslab/nslab/lab"
	"github.com/nslab/nslab/service"
)

// TestUpRefusesToDropRunningServices: up of a file that keeps a running
// lab's nodes but not its services (another file under the lab's name,
// as nslab up other.yaml --lab RUNNING) stops nothing without --replace,
// and names the services; with it, they stop. Before, both services were
// stopped with nothing but a progress line (by hand: a lab with services
// s1, s2 in n1, then up of a file with n1 and no services).
func TestUpRefusesToDropRunningServices(t *testing.T) {
	keep, drop := sh("a", "keep", "exec sleep infinity"), sh("a", "drop", "exec sleep 1001")
	tl := svcLab(t, []string{"a", "b"}, keep, drop)
	if err := upSvc(t, tl, lab.Options{}); err != nil {
		t.Fatal(err)
	}
	k0, d0 := state(t, tl.Name, "a/keep").PID, state(t, tl.Name, "a/drop").PID
	other := again(t, tl, keep) // the same nodes, without a/drop
	err := lab.Up(context.Background(), other, tl.Source, lab.Options{})
	var re *lab.ReplaceError
	if !errors.As(err, &re) || !strings.Contains(err.Error(), "a/drop") || !strings.Contains(err.Error(), fmt.Sprint("pid ", d0)) || !strings.Contains(err.Error(), "--replace") {
		t.Fatalf("up without a/drop: %v, want a ReplaceError naming a/drop (pid %d) and --replace", err, d0)
	}
	t.Log(err)
	if s := state(t, tl.Name, "a/drop"); s.PID != d0 || s.State != service.Running || !alive(d0) {
		t.Errorf("a/drop after the refused change: %+v (alive %v), want pid %d running", s, alive(d0), d0)
	}
	if err := lab.Up(context.Background(), other, tl.Source, lab.Options{Replace: true}); err != nil {
		t.Fatalf("up --replace: %v", err)
	}
	// The supervisor stops it (its grace: 2 s) after up hands it the
	// new services.
	if !waitFor(10*time.Second, func() bool { return !alive(d0) }) {
		t.Errorf("a/drop (pid %d) still runs 10 s after up --replace without it", d0)
	}
	if k := state(t, tl.Name, "a/keep").PID; k != k0 || !alive(k0) {
		t.Errorf("a/keep: pid %d, want %d kept", k, k0)
	}
}
