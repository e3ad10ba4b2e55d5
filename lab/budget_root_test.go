package lab_test

import (
	"context"
	"strings"
	"testing"

	"github.com/nslab/nslab/kernel"
	"github.com/nslab/nslab/lab"
	"github.com/nslab/nslab/nslabtest"
	"github.com/nslab/nslab/topology"
)

// TestUpRefusesWhatTheMachineCannotHold: on a machine that allows fewer
// namespaces than the lab has (a fake reading), up refuses with the
// numbers before it changes anything, and --force builds anyway.
func TestUpRefusesWhatTheMachineCannotHold(t *testing.T) {
	nslabtest.RequireRoot(t)
	name := nslabtest.Name("t")
	nslabtest.CheckLeaksAtEnd(t, name)
	src := []byte("name: " + name + "\nnodes:\n  a: {}\n  b: {}\n  c: {}\n")
	tl, err := topology.Parse(name+".yaml", src)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(lab.SetReadMachine(func(real func(bool) kernel.Machine, counts bool) kernel.Machine {
		m := real(counts)
		m.MaxNetNamespaces = 2 + m.NetNamespaces
		return m
	}))
	t.Cleanup(func() { lab.Down(context.Background(), name, lab.Options{}) })
	err = lab.Up(context.Background(), tl, src, lab.Options{})
	if err == nil || !strings.Contains(err.Error(), "3 network namespaces, but user.max_net_namespaces is") ||
		!strings.Contains(err.Error(), "--force") {
		t.Errorf("up of 3 nodes where 2 namespaces are left: got %v", err)
	}
	nslabtest.CheckLeaks(t, name)
	if err := lab.Up(context.Background(), tl, src, lab.Options{Force: true}); err != nil {
		t.Fatalf("up --force: %v", err)
	}
	if err := lab.Down(context.Background(), name, lab.Options{}); err != nil {
		t.Fatal(err)
	}
}
