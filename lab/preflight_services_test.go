package lab

import (
	"os"
	"path/filepath"
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
