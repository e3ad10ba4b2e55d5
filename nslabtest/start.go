package nslabtest

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/nslab/nslab"
	"github.com/nslab/nslab/kernel"
	"github.com/nslab/nslab/lab"
	"github.com/nslab/nslab/plan"
	"github.com/nslab/nslab/topology"
)

// Start builds the lab topo describes for the test, under a name of its
// own, and returns the handle; it skips the test, saying why, when it
// does not run as root, and fails it when the lab cannot be built. The
// lab is removed when the test ends (t.Cleanup), after which the test
// fails if anything of it is left: a namespace, link, mount, nftables
// table, process or state file.
//
// The name is topo's (its first 8 bytes), the test process's pid and a
// counter, so tests may run in parallel (t.Parallel) and in several
// processes at once. topo is not changed. Its host-side addresses (a
// bridge's addresses, host interfaces) are the host's while the lab runs:
// take them from Subnets so that parallel tests do not clash; nodes'
// addresses live in their namespaces and never clash.
//
// A lab that a test process left when it died (kill -9, a panic in
// another goroutine) is removed by the next Start of any test process.
func Start(t testing.TB, topo *topology.Lab) *nslab.Lab {
	t.Helper()
	l, err := StartContext(t.Context(), t, topo, nslab.Options{Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// StartContext is Start with a context and options; it returns the error
// of a build that failed, or was cancelled with ctx, instead of failing
// the test. Nothing of a lab that failed is left (but with
// opt.KeepFailed, until the test ends).
func StartContext(ctx context.Context, t testing.TB, topo *topology.Lab, opt nslab.Options) (*nslab.Lab, error) {
	t.Helper()
	RequireRoot(t)
	name := Name(labPrefix(topo.Name))
	CheckLeaksAtEnd(t, name)
	var l *nslab.Lab
	var spaces []uint64 // the inodes of the lab's namespaces, for the process check
	t.Cleanup(func() {
		spaces = namespaceInodes(name)
		var err error
		if l != nil {
			err = l.Close()
		} else {
			err = lab.Down(context.Background(), name, lab.Options{})
		}
		if err != nil {
			t.Errorf("removing lab %s: %v", name, err)
		}
		for _, p := range processesIn(spaces) {
			t.Errorf("lab %s left behind: %s", name, p)
		}
	})
	c := *topo
	c.Name = name
	l, err := nslab.Start(ctx, &c, opt)
	return l, err
}

// labPrefix is what of a topology's name starts a test lab's.
func labPrefix(name string) string {
	if len(name) > 8 {
		name = name[:8]
	}
	return strings.TrimRight(name, "-") + "-"
}

// namespaceInodes returns the inodes of the lab's namespaces.
func namespaceInodes(name string) []uint64 {
	entries, _ := os.ReadDir(kernel.NetnsDir)
	var out []uint64
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), plan.NetnsName(name, "")) {
			if ino, err := kernel.NetnsInode(e.Name()); err == nil {
				out = append(out, ino)
			}
		}
	}
	return out
}

// processesIn lists the processes still in one of the network namespaces
// of the given inodes, as "process PID (COMMAND)".
func processesIn(inodes []uint64) []string {
	if len(inodes) == 0 {
		return nil
	}
	want := map[string]bool{}
	for _, ino := range inodes {
		want[fmt.Sprintf("net:[%d]", ino)] = true
	}
	entries, _ := os.ReadDir("/proc")
	var out []string
	for _, e := range entries {
		if e.Name()[0] < '0' || e.Name()[0] > '9' {
			continue
		}
		if ns, err := os.Readlink("/proc/" + e.Name() + "/ns/net"); err == nil && want[ns] {
			comm, _ := os.ReadFile("/proc/" + e.Name() + "/comm")
			out = append(out, fmt.Sprintf("process %s (%s)", e.Name(), strings.TrimSpace(string(comm))))
		}
	}
	return out
}
