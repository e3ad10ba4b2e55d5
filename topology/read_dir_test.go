package topology_test

import (
	"strings"
	"testing"

	"github.com/nslab/nslab/topology"
)

// TestReadDirectory: a directory given as the topology file is refused
// with what to give instead (it said only "is a directory").
func TestReadDirectory(t *testing.T) {
	dir := t.TempDir()
	_, err := topology.ReadFile(dir)
	if err == nil || !strings.Contains(err.Error(), dir+" is a directory: give the topology file") {
		t.Fatalf("ReadFile(a directory): %v, want it named as a directory and what to give", err)
	}
}
