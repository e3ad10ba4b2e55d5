package lab_test

import (
	"context"
	"strings"
	"testing"

	"github.com/nslab/nslab/lab"
	"github.com/nslab/nslab/nslabtest"
	"github.com/nslab/nslab/topology"
)

// TestServiceCommandNotFoundRefusedFirst: up refuses a service whose
// program is not on the host, or whose user does not exist, at its line,
// before anything is built.
func TestServiceCommandNotFoundRefusedFirst(t *testing.T) {
	nslabtest.RequireRoot(t)
	name := nslabtest.Name("svctopo")
	nslabtest.CheckLeaksAtEnd(t, name)
	src := []byte("name: " + name + seed(t) + `
    services:
      ok: sleep infinity
      api:
        command: [nslab-no-such-program, --port, "9000"]
      web: "exec nslab-no-such-server -p 80"
      probe:
        command: sleep infinity
        user: nslab-no-such-user
        ready: {command: [/nonexistent/check]}
      data:
        command: [sleep, infinity]
        dir: /nonexistent/data
`)
	tl, err := topology.Parse(name+".yaml", src)
	if err != nil {
		t.Fatal(err)
	}
	err = lab.Up(context.Background(), tl, src, lab.Options{})
	if err == nil {
		lab.Down(context.Background(), name, lab.Options{})
		t.Fatal("up with a missing command succeeded")
	}
	for _, want := range []string{
		name + `.yaml:20:19: service ns2/api: command "nslab-no-such-program" not found in PATH ` + topology.ServicePath,
		name + `.yaml:24:15: service ns2/probe: user "nslab-no-such-user" does not exist on this host`,
		name + `.yaml:25:27: service ns2/probe: ready: command "/nonexistent/check": /nonexistent/check does not exist`,
		name + `.yaml:21:12: service ns2/web: command "nslab-no-such-server" not found`,
		name + `.yaml:28:14: service ns2/data: dir /nonexistent/data does not exist on this host`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("up: got\n%v\nwant a line %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "left behind") {
		t.Errorf("refused after building began: %v", err)
	}
	if left := nslabtest.Leftovers(name); len(left) > 0 {
		t.Errorf("up built before refusing: %v", left)
	}
}
