package lab_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nslab/nslab/internal/netnsdir"
	"github.com/nslab/nslab/lab"
	"github.com/nslab/nslab/topology"
	"golang.org/x/sys/unix"
)

// TestServicesWaitFreesHostLock: up on a running lab whose network is
// unchanged and whose services change waits for them to be ready without
// the host's lock, which guards only the check and record of what labs
// take of the host: another lab's up meanwhile is not stalled. (It was:
// another lab's up waited 3.3 s behind a service ready after 4 s; by
// hand, nslab demo waited 7m59s for a test lab's change.) The lock is
// probed without waiting while the change waits for its service: other
// labs on the machine hold it for moments only, so some probe gets it.
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
	go func() { changed <- lab.Up(context.Background(), again(t, tl, keep, slow), tl.Source, lab.Options{}) }()
	// The change holds the host's lock for its check and record; give it
	// time to reach the wait for its service, then probe until the
	// service is ready.
	time.Sleep(time.Second)
	probes, got := 0, 0
	for {
		if _, err := os.Stat(flag); err == nil {
			break
		}
		probes++
		if f, err := netnsdir.LockFile(filepath.Join(lab.StateDir, ".locks", ".host"), unix.LOCK_EX|unix.LOCK_NB); err == nil {
			f.Close()
			got++
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := <-changed; err != nil {
		t.Fatalf("the change of %s: %v", tl.Name, err)
	}
	t.Logf("the host's lock was free for %d of %d probes while the change waited for its service", got, probes)
	if probes < 10 {
		t.Fatalf("%d probes: the service was ready too soon for this test to prove anything", probes)
	}
	if got == 0 {
		t.Errorf("the host's lock was held through all %d probes while a running lab waited for its service to be ready", probes)
	}
}
