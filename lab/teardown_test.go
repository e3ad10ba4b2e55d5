package lab_test

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/nslab/nslab/kernel"
	"github.com/nslab/nslab/lab"
	"github.com/nslab/nslab/nslabtest"
	"github.com/nslab/nslab/plan"
)

// TestDownTriesEveryStep: a down whose one step fails (node a's namespace
// cannot be removed: a second mount is stacked on its /run/netns entry)
// still removes the lab's other nodes and its bridge, and returns the
// failure, naming the node. With one worker the failing node is removed
// first, so a down that stopped at the first failure would leave the
// others. A second down, once the mount is gone, removes the rest.
func TestDownTriesEveryStep(t *testing.T) {
	nslabtest.RequireRoot(t)
	tl := parse(t, "bridges:\n  br: {}\nnodes:\n  a: {interfaces: {eth0: {link: br}}}\n  b: {interfaces: {eth0: {link: br}}}\n  c: {interfaces: {eth0: {link: br}}}\n")
	stuck := kernel.NetnsPath(plan.NetnsName(tl.Name, "a"))
	t.Cleanup(func() {
		exec.Command("umount", stuck).Run() // the stacked mount, if the test failed before down
		if err := lab.Down(context.Background(), tl.Name, lab.Options{}); err != nil {
			t.Errorf("second down: %v", err)
		}
		nslabtest.CheckLeaks(t, tl.Name)
	})
	if err := lab.Up(context.Background(), tl, sources[tl], lab.Options{}); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "--bind", stuck, stuck).CombinedOutput(); err != nil {
		t.Fatalf("mount --bind %s: %v: %s", stuck, err, out)
	}

	err := lab.Down(context.Background(), tl.Name, lab.Options{Workers: 1})
	t.Logf("down with node a stuck: %v", err)
	if err == nil || !strings.Contains(err.Error(), plan.NetnsName(tl.Name, "a")) {
		t.Errorf("down with node a stuck: %v, want an error naming %s", err, plan.NetnsName(tl.Name, "a"))
	}
	for _, n := range []string{"b", "c"} {
		if _, err := os.Stat(kernel.NetnsPath(plan.NetnsName(tl.Name, n))); err == nil {
			t.Errorf("node %s is left after a down that failed on node a", n)
		}
	}
	if out, err := exec.Command("ip", "link", "show", plan.BridgeName(tl.Name, "br")).CombinedOutput(); err == nil {
		t.Errorf("bridge br is left after a down that failed on node a:\n%s", out)
	}
	if out, err := exec.Command("umount", stuck).CombinedOutput(); err != nil {
		t.Errorf("umount %s: %v: %s", stuck, err, out)
	}
}
