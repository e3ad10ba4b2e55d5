package nslab_test

import (
	"os"
	"strings"
	"testing"
)

// TestReadmeLibraryExample: the Go file of the README's library section
// is readme_example_test.go, so it compiles and runs with the tests.
func TestReadmeLibraryExample(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, sec, ok := strings.Cut(string(readme), "## As a Go library")
	if !ok {
		t.Fatal("README.md has no section As a Go library")
	}
	_, block, ok := strings.Cut(sec, "```go\n")
	block, _, _ = strings.Cut(block, "```")
	if !ok || block == "" {
		t.Fatal("the library section has no go block")
	}
	file, err := os.ReadFile("readme_example_test.go")
	if err != nil {
		t.Fatal(err)
	}
	want := strings.Replace(string(file), "package nslab_test", "package web_test", 1)
	if block != want {
		t.Errorf("the README's library example is not readme_example_test.go (package web_test there):\n%s", block)
	}
}
