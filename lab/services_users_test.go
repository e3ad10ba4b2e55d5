package lab_test

import (
	"context"
	"strings"
	"testing"

	"github.com/nslab/nslab/lab"
	"github.com/nslab/nslab/nslabtest"
	"github.com/nslab/nslab/topology"
)

// TestServicesOfTwoUsersInOneNodeDir: two services of a node that run as
// two users (neither root) in the node's own directory are refused
// before anything is built, at the second one's user:, naming the first:
// the directory is one user's, and the other failed at its start with
// "fork/exec /bin/sh: permission denied". Root beside one user, and a
// second user with a dir: of its own, are fine.
func TestServicesOfTwoUsersInOneNodeDir(t *testing.T) {
	nslabtest.RequireRoot(t)
	name := nslabtest.Name("trial")
	nslabtest.CheckLeaksAtEnd(t, name)
	src := []byte("name: " + name + `
nodes:
  a:
    services:
      one: {command: "exec sleep infinity", user: nobody}
      root: {command: "exec sleep infinity", user: root}
      two: {command: "exec sleep infinity", user: daemon}
      three: {command: "exec sleep infinity", user: daemon, dir: /tmp}
  b:
    services:
      one: {command: "exec sleep infinity", user: nobody}
      two: {command: "exec sleep infinity", user: "0"}
`)
	tl, err := topology.Parse(name+".yaml", src)
	if err != nil {
		t.Fatal(err)
	}
	err = lab.Up(context.Background(), tl, src, lab.Options{})
	if err == nil {
		lab.Down(context.Background(), name, lab.Options{})
		t.Fatal("up of two users in one node's directory succeeded")
	}
	want := name + `.yaml:7:51: service a/two: user daemon: the node's own directory belongs to user nobody, for a/one (at 5:51)`
	if !strings.Contains(err.Error(), want) || strings.Count(err.Error(), "own directory belongs") != 1 {
		t.Errorf("up: got\n%v\nwant one such error, %q", err, want)
	}
	if strings.Contains(err.Error(), "left behind") {
		t.Errorf("refused after building began: %v", err)
	}
}
