package lab

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/nslab/nslab/topology"
)

func TestFirstCommand(t *testing.T) {
	for _, c := range []struct{ script, want string }{
		{"python3 -m http.server 8080", "python3"},
		{"  /usr/bin/env FOO=1 x", "/usr/bin/env"},
		{"# a comment\n\n  # another\nsleep 1; echo done", "sleep"},
		{"exec etcd --name m1", "etcd"},
		{"exec -a name prog", ""},
		{"sleep 1|cat", "sleep"},
		{"FOO=1 prog", ""},
		{"echo hi", ""},
		{"cd /srv && ./run", ""},
		{"if true; then x; fi", ""},
		{"$PROG --flag", ""},
		{"\"quoted\" arg", ""},
		{"'quoted' arg", ""},
		{"*.sh", ""},
		{"~/bin/x", ""},
		{"(subshell)", ""},
		{"{ x; }", ""},
		{"", ""},
		{"# only a comment", ""},
		{"exec", ""},
	} {
		if got := firstCommand(c.script); got != c.want {
			t.Errorf("firstCommand(%q) = %q, want %q", c.script, got, c.want)
		}
	}
}

func TestFindProgram(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, mode os.FileMode) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("#!/bin/sh\n"), mode); err != nil {
			t.Fatal(err)
		}
	}
	write("tool", 0o755)
	write("data", 0o644)
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	sh := func(s string) []string { return []string{topology.ShellPath, "-c", s} }
	for _, c := range []struct {
		name  string
		argv  []string
		shell bool
		env   []string
		dir   string
		want  string // "" for found; else a part of the error
	}{
		{"on the standard PATH", []string{"sh", "-c", "true"}, false, nil, "", ""},
		{"absolute", []string{filepath.Join(dir, "tool")}, false, nil, "", ""},
		{"missing absolute", []string{filepath.Join(dir, "nope")}, false, nil, "", "does not exist"},
		{"not executable", []string{filepath.Join(dir, "data")}, false, nil, "", "is not executable"},
		{"a directory", []string{filepath.Join(dir, "sub")}, false, nil, "", "is a directory"},
		{"missing on PATH", []string{"nslab-no-such-program"}, false, nil, "", `command "nslab-no-such-program" not found in PATH ` + topology.ServicePath},
		{"env PATH", []string{"tool"}, false, []string{"A=1", "PATH=" + dir}, "", ""},
		{"env PATH misses the standard one", []string{"sh"}, false, []string{"PATH=" + dir}, "", "not found in PATH " + dir},
		{"on PATH but not executable", []string{"data"}, false, []string{"PATH=/nonexistent:" + dir}, "", "is not executable"},
		{"relative against dir", []string{"./tool"}, false, nil, dir, ""},
		{"relative missing against dir", []string{"./nope"}, false, nil, dir, "does not exist"},
		{"relative in the node's directory", []string{"./nope"}, false, nil, "", ""},
		{"shell first word", sh("nslab-no-such-program --x"), true, nil, "", "not found"},
		{"shell after exec", sh("exec nslab-no-such-program"), true, nil, "", "not found"},
		{"shell builtin", sh("echo hi; nslab-no-such-program"), true, nil, "", ""},
		{"shell found", sh("sleep 1"), true, nil, "", ""},
	} {
		err := findProgram(c.argv, c.shell, c.env, c.dir)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: %v", c.name, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%s: got %v, want an error with %q", c.name, err, c.want)
		}
	}
}

func TestKnownUser(t *testing.T) {
	for _, c := range []struct {
		user string
		ok   bool
	}{{"root", true}, {"0", true}, {"123456", true}, {"nslab-no-such-user", false}} {
		if err := knownUser(c.user); (err == nil) != c.ok {
			t.Errorf("knownUser(%q) = %v, want ok %v", c.user, err, c.ok)
		}
	}
}

func TestIsDir(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "f")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ dir, want string }{
		{dir, ""}, {"/", ""},
		{filepath.Join(dir, "nope"), "does not exist on this host"},
		{file, "is not a directory"},
	} {
		err := isDir(c.dir)
		if c.want == "" && err != nil || c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)) {
			t.Errorf("isDir(%s) = %v, want %q", c.dir, err, c.want)
		}
	}
}

// BenchmarkCheckServices1000 is up's preflight of 1000 services: a
// list command looked up in PATH, a shell string's first word, a ready
// command, and a user name each.
func BenchmarkCheckServices1000(b *testing.B) {
	t := &topology.Lab{}
	for i := range 1000 {
		n := &topology.Node{Name: fmt.Sprintf("n%d", i)}
		n.Services = []*topology.Service{
			{Node: n.Name, Name: "a", Command: []string{"sleep", "infinity"}, User: "root",
				Ready: &topology.Ready{Command: []string{topology.ShellPath, "-c", "test -e /tmp"}, Shell: true}},
			{Node: n.Name, Name: "b", Command: []string{topology.ShellPath, "-c", "exec sleep infinity"}, Shell: true},
		}
		t.Nodes = append(t.Nodes, n)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := checkServices(t); err != nil {
			b.Fatal(err)
		}
	}
}

// TestCheckServicesCached: lookups are kept per program, PATH and dir:
// every service with a missing program is reported, and a PATH of one
// service's env does not answer for another's.
func TestCheckServicesCached(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "tool"), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	svc := func(node string, line int, env []string, argv ...string) *topology.Node {
		return &topology.Node{Name: node, Services: []*topology.Service{{Node: node, Name: "s", Command: argv, Env: env,
			CommandPos: topology.Pos{File: "f.yaml", Line: line, Col: 1}}}}
	}
	lab := &topology.Lab{Nodes: []*topology.Node{
		svc("a", 1, nil, "nslab-no-such-program"),
		svc("b", 2, nil, "nslab-no-such-program"),
		svc("c", 3, []string{"PATH=" + dir}, "tool"),
		svc("d", 4, nil, "tool"),
		svc("e", 5, []string{"PATH=" + dir}, "tool"),
	}}
	err := checkServices(lab)
	var list topology.ErrorList
	if !errors.As(err, &list) {
		t.Fatalf("checkServices: %v, want an ErrorList", err)
	}
	var got []string
	for _, e := range list {
		got = append(got, e.Pos.String())
	}
	if want := []string{"f.yaml:1:1", "f.yaml:2:1", "f.yaml:4:1"}; !slices.Equal(got, want) {
		t.Errorf("errors at %v, want %v:\n%v", got, want, err)
	}
}
