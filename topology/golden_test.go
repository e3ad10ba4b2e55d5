package topology

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the .golden and .err files of testdata")

func testFiles(t testing.TB, dir string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", dir, "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no test files in testdata/%s: %v", dir, err)
	}
	return files
}

// parseFile parses a testdata file under its base name, so that messages
// do not depend on the directory.
func parseFile(t *testing.T, path string) (*Lab, error) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return Parse(filepath.Base(path), data)
}

// compareGolden compares got with the file want, or rewrites it with
// -update.
func compareGolden(t *testing.T, want, got string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(want, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	data, err := os.ReadFile(want)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if diff := cmp.Diff(string(data), got); diff != "" {
		t.Errorf("%s differs (-want +got):\n%s", want, diff)
	}
}

func TestGoodFiles(t *testing.T) {
	for _, path := range testFiles(t, "good") {
		t.Run(filepath.Base(path), func(t *testing.T) {
			lab, err := parseFile(t, path)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if err := checkModel(lab); err != nil {
				t.Errorf("checkModel: %v", err)
			}
			compareGolden(t, strings.TrimSuffix(path, ".yaml")+".golden", dumpLab(lab))
		})
	}
}

func TestBadFiles(t *testing.T) {
	for _, path := range testFiles(t, "bad") {
		t.Run(filepath.Base(path), func(t *testing.T) {
			_, err := parseFile(t, path)
			var list ErrorList
			if !errors.As(err, &list) {
				t.Fatalf("Parse: got %v, want an ErrorList", err)
			}
			compareGolden(t, strings.TrimSuffix(path, ".yaml")+".err", err.Error()+"\n")
		})
	}
}
