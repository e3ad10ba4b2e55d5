package topology

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestFormatExamples parses the complete labs shown in docs/format.md.
func TestFormatExamples(t *testing.T) {
	data, err := os.ReadFile("../docs/format.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllStringSubmatch(string(data), -1)
	n := 0
	for _, b := range blocks {
		if !strings.HasPrefix(b[1], "name:") && !strings.HasPrefix(b[1], "version:") {
			continue
		}
		n++
		if _, err := Parse("format.md.yaml", []byte(b[1])); err != nil {
			t.Errorf("example failed:\n%s\n%v", b[1], err)
		}
	}
	if n < 2 {
		t.Errorf("found %d complete examples in docs/format.md", n)
	}
}
