package kernel_test

import (
	"os"
	"testing"
	"time"

	"github.com/nslab/nslab/kernel"
)

// TestNetnsDelHold: a namespace deleted with Hold is gone from
// /run/netns at once but lives on, with its interfaces, until
// NetnsRelease lets go of it; then the kernel frees it (its veth's
// root end goes with it). Without Hold it is freed at once.
func TestNetnsDelHold(t *testing.T) {
	lab, a, b, c := nodesAB(t)
	roots := rootLinks(t, c, lab, "nha", "nhb")
	rootA, rootB := roots[0], roots[1]
	apply(t, c,
		&kernel.VethAdd{Name: rootA, PeerNS: a, PeerName: "eth0"},
		&kernel.VethAdd{Name: rootB, PeerNS: b, PeerName: "eth0"},
	)
	apply(t, c, &kernel.NetnsDel{Name: a, Hold: true}, &kernel.NetnsDel{Name: b})
	for _, ns := range []string{a, b} {
		if _, err := os.Stat(kernel.NetnsPath(ns)); !os.IsNotExist(err) {
			t.Errorf("%s after NetnsDel: stat: %v; want it gone", kernel.NetnsPath(ns), err)
		}
	}
	// b is freed (and its veth with it) within a few seconds; a is held.
	if !gone(rootB, 20*time.Second) {
		t.Fatalf("%s (peer in %s, deleted without Hold) still there after 20 s", rootB, b)
	}
	if _, err := os.Stat("/sys/class/net/" + rootA); err != nil {
		t.Errorf("%s (peer in %s, deleted with Hold) gone before NetnsRelease: %v", rootA, a, err)
	}
	apply(t, c, &kernel.NetnsRelease{})
	if !gone(rootA, 20*time.Second) {
		t.Errorf("%s still there 20 s after NetnsRelease", rootA)
	}
}

// gone waits until the root namespace has no link named name.
func gone(name string, d time.Duration) bool {
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		if _, err := os.Stat("/sys/class/net/" + name); os.IsNotExist(err) {
			return true
		}
	}
	return false
}
