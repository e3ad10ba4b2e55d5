package nslabtest_test

import (
	"context"
	"testing"

	"github.com/nslab/nslab/nslabtest"
	"github.com/nslab/nslab/topology"
)

// A test with a lab of its own: skipped without root, removed and
// checked for leftovers when the test ends, safe beside parallel tests.
func ExampleStart() {
	testWeb := func(t *testing.T) { // func TestWeb(t *testing.T) in a _test.go file
		t.Parallel()
		b := topology.NewBuilder("web")
		v4, _ := nslabtest.Subnets(t) // a host-side subnet no other test uses
		b.Bridge("lan").Subnets(v4.String()).Gateway()
		b.Node("a").Interface("eth0", "lan")
		topo, err := b.Lab()
		if err != nil {
			t.Fatal(err)
		}
		l := nslabtest.Start(t, topo)
		out, err := l.Node("a").Command(context.Background(), "hostname").Output()
		if err != nil || string(out) != "a\n" {
			t.Errorf("hostname in a: %q %v", out, err)
		}
	}
	_ = testWeb
}
