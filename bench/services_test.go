package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nslab/nslab/topology"
)

// TestWithServices: every host of a star gets its service, and the file
// stays valid.
func TestWithServices(t *testing.T) {
	text, n := withServices(fallbackStar("bench-svc", 12, false))
	if n != 12 {
		t.Fatalf("%d services added, want 12", n)
	}
	l, err := topology.Parse("star.yaml", []byte(text))
	if err != nil {
		t.Fatalf("%v\n%s", err, text)
	}
	for _, node := range l.Nodes {
		if len(node.Services) != 1 || strings.Join(node.Services[0].Command, " ") != "sleep infinity" {
			t.Errorf("node %s: services %+v, want sleep infinity", node.Name, node.Services)
		}
	}
}

// TestSpliceServices: -only services replaces its own section and
// leaves the rest of the report as it was; a report without the section
// gets it before the reachability table.
func TestSpliceServices(t *testing.T) {
	path := filepath.Join(t.TempDir(), "RESULTS.md")
	doc := "# r\n\n## Star\n\nstar\n\n## Reachability checked after each up (not timed)\n\nchecks\n\n## Commands run\n\ncmds\n"
	os.WriteFile(path, []byte(doc), 0o644)
	sec := "\n## " + servicesTitle + "\n\nfirst\n"
	got, err := spliceServices(path, sec)
	if err != nil {
		t.Fatal(err)
	}
	want := "# r\n\n## Star\n\nstar\n" + sec + "\n## Reachability checked after each up (not timed)\n\nchecks\n\n## Commands run\n\ncmds\n"
	if got != want {
		t.Fatalf("first splice:\n%s\nwant:\n%s", got, want)
	}
	os.WriteFile(path, []byte(got), 0o644)
	sec2 := "\n## " + servicesTitle + "\n\nsecond\n"
	got, _ = spliceServices(path, sec2)
	if want := strings.Replace(want, sec, sec2, 1); got != want {
		t.Errorf("second splice:\n%s\nwant:\n%s", got, want)
	}
}
