package gen

import (
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// TestGolden compares one small lab of each kind with testdata/KIND.yaml.
func TestGolden(t *testing.T) {
	for _, c := range []struct {
		k       Kind
		command string
	}{
		{Star{Nodes: 4}, "nslab gen star --nodes 4"},
		{Line{Routers: 3}, "nslab gen line --routers 3"},
		{Tree{Depth: 2, Fanout: 2, Host: true}, "nslab gen tree --depth 2 --fanout 2 --host"},
		{LeafSpine{Spines: 2, Leaves: 3, HostsPerLeaf: 2}, "nslab gen leaf-spine --spines 2 --leaves 3 --hosts-per-leaf 2"},
		{FatTree{K: 4}, "nslab gen fat-tree --k 4"},
	} {
		t.Run(c.k.Kind(), func(t *testing.T) {
			got := generate(t, c.k, Options{Command: c.command})
			compareGolden(t, filepath.Join("testdata", c.k.Kind()+".yaml"), string(got))
		})
	}
}

func compareGolden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s differs (-want +got):\n%s", path, diff)
	}
}
