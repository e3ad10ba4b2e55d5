package kernel_test

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/nslab/nslab/kernel"
	"github.com/nslab/nslab/nslabtest"
)

// Two namespaces joined by a veth pair (made with ip, not by nslab), seen
// from the root namespace through one socket each way: Counters reads
// each namespace's links and counters by netns id, with no socket opened
// in the namespace, and a Watcher hears the pair go down on one side and
// the address added on the other, each named by its namespace.
func TestWatcherAndCounters(t *testing.T) {
	nslabtest.RequireRoot(t)
	lab := nslabtest.Name("kw")
	a, b := lab+".a", lab+".b"
	nslabtest.Netns(t, a)
	nslabtest.Netns(t, b)
	nslabtest.IP(t, "-n", a, "link", "add", "va", "type", "veth", "peer", "name", "vb", "netns", b)
	nslabtest.IP(t, "-n", a, "link", "set", "va", "up")
	nslabtest.IP(t, "-n", b, "link", "set", "vb", "up")

	want := func(ns string) bool { return strings.HasPrefix(ns, lab+".") }
	ids := kernel.NewNsIDs()
	if err := ids.Refresh(want); err != nil {
		t.Fatal(err)
	}
	for _, ns := range []string{a, b} {
		if _, ok := ids.ID(ns); !ok {
			t.Fatalf("%s has no netns id", ns)
		}
	}
	c, err := kernel.NewCounter()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fds := openFiles(t)
	var lc []kernel.LinkCounters
	for start := time.Now(); ; time.Sleep(20 * time.Millisecond) {
		var err error
		if lc, err = c.Links(ids, a); err != nil {
			t.Fatal(err)
		}
		var va *kernel.LinkCounters
		for i := range lc {
			if lc[i].Name == "va" {
				va = &lc[i]
			}
		}
		if va != nil && va.Up {
			break
		}
		if time.Since(start) > 2*time.Second { // carrier comes within a second
			t.Fatalf("counters of %s: %+v, want va up", a, lc)
		}
	}
	if _, err := c.Links(ids, b); err != nil {
		t.Fatal(err)
	}
	if n := openFiles(t); n != fds {
		t.Errorf("reading the namespaces' counters opened %d files, want none but the Counter's socket", n-fds)
	}

	w, err := kernel.NewWatcher(ids, want)
	if err != nil {
		t.Fatal(err)
	}
	w.Learn(a, lc)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	events := make(chan kernel.NetEvent, 100)
	go w.Run(ctx, func(e kernel.NetEvent) { events <- e })
	time.Sleep(100 * time.Millisecond)
	start := time.Now()
	nslabtest.IP(t, "-n", b, "link", "set", "vb", "down")
	nslabtest.IP(t, "-n", b, "addr", "add", "192.0.2.7/24", "dev", "vb")
	left := map[string]bool{a + " link-down va": true, b + " addr-added vb 192.0.2.7/24": true}
	// The kernel may hold a carrier change back up to a second
	// (linkwatch) before it tells, more when CI's other test packages
	// keep both CPUs busy (missed at 2 s once there).
	deadline := time.After(5 * time.Second)
	for len(left) > 0 {
		select {
		case e := <-events:
			delete(left, strings.TrimSpace(e.Netns+" "+e.Kind+" "+e.Link+" "+e.Detail))
		case <-deadline:
			t.Fatalf("after 5 s still waiting for %v", left)
		}
	}
	t.Logf("heard within %v", time.Since(start))
}

func openFiles(t *testing.T) int {
	t.Helper()
	e, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(e)
}
