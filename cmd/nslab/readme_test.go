package main

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// setUpLines returns the command lines of the README's set-up section,
// without their comments.
func setUpLines(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, sec, ok := strings.Cut(string(b), "## Set up")
	if !ok {
		t.Fatal("README.md has no section Set up")
	}
	sec, _, _ = strings.Cut(sec, "\n## ")
	var lines []string
	for i, block := range strings.Split(sec, "```") {
		if i%2 == 1 && strings.HasPrefix(block, "sh\n") {
			for _, l := range strings.Split(strings.TrimPrefix(block, "sh\n"), "\n") {
				if l, _, _ = strings.Cut(l, "  #"); strings.TrimSpace(l) != "" {
					lines = append(lines, strings.TrimSpace(l))
				}
			}
		}
	}
	if len(lines) < 2 {
		t.Fatalf("README.md's set-up section has %d command lines: %q", len(lines), lines)
	}
	return lines
}

// TestReadmeSetUp: the README's set-up commands work as written with or
// without sudo (as root on a machine without it, this one's case), and
// its go run line runs nslab.
func TestReadmeSetUp(t *testing.T) {
	for _, l := range setUpLines(t) {
		if strings.HasPrefix(l, "sudo ") || strings.Contains(l, "&& sudo ") {
			t.Errorf("README set-up line fails where there is no sudo: %s", l)
		}
		if !strings.Contains(l, " go run ./cmd/nslab demo") || testing.Short() {
			continue
		}
		// The line as written, with --version for demo: it needs no
		// root and builds no lab on this shared machine.
		cmd := exec.Command("sh", "-c", strings.Replace(l, " demo", " --version", 1))
		cmd.Dir = "../.."
		if out, err := cmd.CombinedOutput(); err != nil || !strings.HasPrefix(string(out), "nslab ") {
			t.Errorf("%s: %v\n%s", l, err, out)
		}
	}
}
