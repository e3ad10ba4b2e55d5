package main

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestWithHosts: the hosts: block goes right after the name line of a
// generated file, whose comments and nodes stay as they were.
func TestWithHosts(t *testing.T) {
	src := "# a comment\n# name: not this\nname: x\nbridges:\n  lan1: {}\n"
	got, err := withHosts(src, []hostAddr{{"m1", netip.MustParseAddr("10.232.0.2")}, {"m2", netip.MustParseAddr("10.232.0.3")}})
	if err != nil {
		t.Fatal(err)
	}
	want := "# a comment\n# name: not this\nname: x\nhosts:\n  m1: {ssh: m1, address: 10.232.0.2}\n  m2: {ssh: m2, address: 10.232.0.3}\nbridges:\n  lan1: {}\n"
	if got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
	if _, err := withHosts("nodes: {}\n", nil); err == nil {
		t.Error("a file without a name line was taken")
	}
}

// TestCountSessions: every ssh run of the wrapper's log is a session but
// ssh -O, which talks to a shared connection.
func TestCountSessions(t *testing.T) {
	log := "-F /c -o BatchMode=yes -o ControlMaster=auto m1 -- test -x /var/lib/nslab/bin/nslab-1\n" +
		"-F /c -o BatchMode=yes m2 -- /var/lib/nslab/bin/nslab-1 host-apply -q --check x\n" +
		"-F /c -o ControlPath=/run/nslab/.ssh/1/c2/%C -O exit m1\n" +
		"-o ControlPath=/x -O exit nslab-master\n\n"
	if n := countSessions(log); n != 2 {
		t.Errorf("countSessions = %d, want 2", n)
	}
}

// TestPlacementLine sums up nslab validate's placement.
func TestPlacementLine(t *testing.T) {
	out := "  host m1 (ssh m1, 10.232.0.2): 2 nodes: a s\n  host m2 (ssh m2, 10.232.0.3): 1 node: b\n" +
		"  2 segments between hosts (VXLAN)\n    lan: m1, m2\n"
	if got, want := placementLine(out), "m1 2, m2 1 nodes; 2 segments between hosts"; got != want {
		t.Errorf("placementLine = %q, want %q", got, want)
	}
}

// TestLeafSpine: the generator's form comes within a few nodes of the
// size asked for.
func TestLeafSpine(t *testing.T) {
	for _, n := range []int{30, 300, 3000} {
		l, h := leafSpine(n)
		if got := 2 + l + l*h; got < n-l || got > n+l {
			t.Errorf("leafSpine(%d) = %d leaves × %d: %d nodes", n, l, h, got)
		}
	}
}

// TestSpliceMultihost: -only multihost replaces both its sections, and
// only them.
func TestSpliceMultihost(t *testing.T) {
	path := filepath.Join(t.TempDir(), "RESULTS.md")
	doc := "# r\n\n## Star\n\nstar\n\n## Reachability checked after each up (not timed)\n\nchecks\n\n## Commands run\n\ncmds\n"
	os.WriteFile(path, []byte(doc), 0o644)
	sec := "\n## " + multihostTitle + "\n\nfirst\n\n## " + streamTitle + "\n\nstream 1\n"
	got, err := spliceOnly(path, "multihost", sec)
	if err != nil {
		t.Fatal(err)
	}
	want := "# r\n\n## Star\n\nstar\n" + sec + "\n## Reachability checked after each up (not timed)\n\nchecks\n\n## Commands run\n\ncmds\n"
	if got != want {
		t.Fatalf("first splice:\n%s\nwant:\n%s", got, want)
	}
	os.WriteFile(path, []byte(got), 0o644)
	sec2 := "\n## " + multihostTitle + "\n\nsecond\n\n## " + streamTitle + "\n\nstream 2\n"
	got, _ = spliceOnly(path, "multihost", sec2)
	if want := strings.Replace(want, sec, sec2, 1); got != want {
		t.Errorf("second splice:\n%s\nwant:\n%s", got, want)
	}
	// The services section next to it stays.
	os.WriteFile(path, []byte(got), 0o644)
	got, _ = spliceServices(path, "\n## "+servicesTitle+"\n\nsvc\n")
	if !strings.Contains(got, sec2) || !strings.Contains(got, "svc") {
		t.Errorf("services spliced next to multihost:\n%s", got)
	}
}
