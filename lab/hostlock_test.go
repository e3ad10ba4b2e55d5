package lab_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/nslab/nslab/lab"
	"github.com/nslab/nslab/topology"
)

// TestServicesWaitFreesHostLock: up on a running lab whose network is
// unchanged and whose services change waits for them to be ready without
// the host's lock, which guards only the check and record of what labs
// take of the host: another lab's up meanwhile is not stalled. (It was:
// the second up waited for the first one's service to become ready,
// minutes on a loaded machine; found when nslab demo waited 7m59s for a
// test's lab.)
func TestServicesWaitFreesHostLock(t *testing.T) {
	keep := sh("a", "keep", "exec sleep infinity")
	tl := svcLab(t, []string{"a"}, keep)
	if err := upSvc(t, tl, lab.Options{}); err != nil {
		t.Fatal(err)
	}
	flag := filepath.Join(t.TempDir(), "ready")
	slow := sh("a", "slow", "sleep 4; touch "+flag+"; exec sleep infinity")
	slow.Ready = &topology.Ready{Command: []string{"test", "-e", flag}, Timeout: 60 * time.Second, Interval: 100 * time.Millisecond}
	changed := make(chan error, 1)
	start := time.Now()
	go func() { changed <- lab.Up(context.Background(), again(t, tl, keep, slow), tl.Source, lab.Options{}) }()
	// The change holds the host's lock for its check and record; give
	// it time to reach the wait for its service.
	time.Sleep(time.Second)
	other := svcLab(t, []string{"x"})
	otherStart := time.Now()
	if err := upSvc(t, other, lab.Options{}); err != nil {
		t.Fatal(err)
	}
	took := time.Since(otherStart)
	if err := <-changed; err != nil {
		t.Fatalf("the change of %s: %v", tl.Name, err)
	}
	changeTook := time.Since(start)
	t.Logf("the change with a service ready after 4 s took %v; another lab's up meanwhile %v", changeTook.Round(time.Millisecond), took.Round(time.Millisecond))
	if changeTook < 4*time.Second {
		t.Fatalf("the change took %v: the slow service was not waited for, so this test proves nothing", changeTook)
	}
	if took > 2500*time.Millisecond {
		t.Errorf("another lab's up took %v while a running lab waited for its service to be ready: the host's lock was held during the wait", took)
	}
}
