package main

import (
	"fmt"
	"runtime/debug"
	"strings"
)

// version describes the build: the module version, the commit it was
// built from and whether the checkout had uncommitted changes, the Go
// version and whether cgo was on (then the binary links against libc).
// go build and go install in a git clone record the commit (unless
// -buildvcs=false); go run (unless -buildvcs=true) and builds in a git
// worktree do not, and version says so. go install MODULE@VERSION
// records the version instead.
func version(bi *debug.BuildInfo, ok bool) string {
	if !ok {
		return "unknown (no build information in this binary)"
	}
	set := map[string]string{}
	for _, s := range bi.Settings {
		set[s.Key] = s.Value
	}
	var b strings.Builder
	b.WriteString(bi.Main.Version)
	if b.Len() == 0 {
		b.WriteString("(devel)")
	}
	if rev := set["vcs.revision"]; rev != "" {
		fmt.Fprintf(&b, "\ncommit %s", rev)
		if t := set["vcs.time"]; t != "" {
			fmt.Fprintf(&b, " of %s", t)
		}
		if set["vcs.modified"] == "true" {
			b.WriteString(", with uncommitted changes (dirty)")
		} else {
			b.WriteString(", clean")
		}
	} else {
		b.WriteString("\ncommit unknown: the go command recorded none (go build and go install in a git clone do by default; go run, -buildvcs=false and git worktrees do not; -buildvcs=true makes go run record it)")
	}
	fmt.Fprintf(&b, "\nbuilt with %s for %s/%s", bi.GoVersion, set["GOOS"], set["GOARCH"])
	if set["CGO_ENABLED"] == "1" {
		b.WriteString(", cgo on: dynamically linked against libc")
	} else if set["CGO_ENABLED"] == "0" {
		b.WriteString(", cgo off: statically linked")
	}
	return b.String()
}
