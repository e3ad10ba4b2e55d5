package main

import (
	"os/exec"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
)

func TestVersionText(t *testing.T) {
	bi := func(v string, kv ...string) *debug.BuildInfo {
		b := &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: "github.com/nslab/nslab", Version: v}}
		for i := 0; i < len(kv); i += 2 {
			b.Settings = append(b.Settings, debug.BuildSetting{Key: kv[i], Value: kv[i+1]})
		}
		return b
	}
	for _, c := range []struct {
		name string
		bi   *debug.BuildInfo
		want string
	}{
		{"go build in a checkout", bi("v0.0.0-20261206035236-f3db8bec1dc5+dirty", "vcs.revision", "f3db8bec1dc5c2f7", "vcs.time", "2026-12-06T03:52:36Z",
			"vcs.modified", "true", "GOOS", "linux", "GOARCH", "amd64", "CGO_ENABLED", "1"),
			"v0.0.0-20261206035236-f3db8bec1dc5+dirty\ncommit f3db8bec1dc5c2f7 of 2026-12-06T03:52:36Z, with uncommitted changes (dirty)\n" +
				"built with go1.26.8 for linux/amd64, cgo on: dynamically linked against libc"},
		{"clean", bi("(devel)", "vcs.revision", "abc", "vcs.modified", "false", "GOOS", "linux", "GOARCH", "arm64", "CGO_ENABLED", "0"),
			"(devel)\ncommit abc, clean\nbuilt with go1.26.8 for linux/arm64, cgo off: statically linked"},
		{"go install MODULE@VERSION", bi("v1.2.3", "GOOS", "linux", "GOARCH", "amd64", "CGO_ENABLED", "1"),
			"v1.2.3\ncommit unknown: the go command recorded none (go build and go install in a git clone do by default; go run, -buildvcs=false and git worktrees do not; -buildvcs=true makes go run record it)\n" +
				"built with go1.26.8 for linux/amd64, cgo on: dynamically linked against libc"},
	} {
		if got := version(c.bi, true); got != c.want {
			t.Errorf("%s:\n%s\nwant:\n%s", c.name, got, c.want)
		}
	}
}

// TestVersionFlag runs --version of the test's build and of go run. (A
// go build in a git clone records the commit too; in a git worktree, as
// with -buildvcs=false, the go command records none.)
func TestVersionFlag(t *testing.T) {
	check := func(how, out string) {
		t.Helper()
		if !strings.HasPrefix(out, "nslab ") || !strings.Contains(out, "built with "+runtime.Version()) {
			t.Errorf("%s: --version says:\n%s", how, out)
		}
	}
	r := nslab(t, "", "--version")
	if r.code != 0 {
		t.Fatalf("--version: code %d %s", r.code, r.stderr)
	}
	check("go build", r.stdout)
	if testing.Short() {
		t.Skip("-short: no go run")
	}
	out, err := exec.Command("go", "run", ".", "--version").CombinedOutput()
	if err != nil {
		t.Fatalf("go run . --version: %v\n%s", err, out)
	}
	check("go run", string(out))
}
