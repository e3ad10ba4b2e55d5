package topology

import (
	"fmt"
	"strings"
	"testing"
)

// BenchmarkParse10k parses and validates a star of 10,000 nodes: 10
// bridges of 1000 ports, dual stack, one default route per node.
func BenchmarkParse10k(b *testing.B) {
	data := starLab(10, 1000)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse("star.yaml", data); err != nil {
			b.Fatal(err)
		}
	}
}

// TestParse10k checks the large star at scale.
func TestParse10k(t *testing.T) {
	data := starLab(10, 1000)
	lab, err := Parse("star.yaml", data)
	if err != nil {
		t.Fatal(err)
	}
	if len(lab.Nodes) != 10000 || len(lab.Links) != 10000 || len(lab.Segments()) != 10 {
		t.Fatalf("got %d nodes, %d links, %d segments", len(lab.Nodes), len(lab.Links), len(lab.Segments()))
	}
	if err := checkModel(lab); err != nil {
		t.Fatal(err)
	}
}

// starLab generates a lab of bridges with n nodes each, in block style.
func starLab(bridges, n int) []byte {
	var b strings.Builder
	b.WriteString("name: star\nbridges:\n")
	for i := range bridges {
		fmt.Fprintf(&b, "  br%d:\n    addresses: [10.%d.0.1/16, \"fd00:%d::1/64\"]\n", i, i, i)
	}
	b.WriteString("nodes:\n")
	for i := range bridges {
		for j := range n {
			h := j + 2
			fmt.Fprintf(&b, "  n%d-%d:\n    interfaces:\n      eth0:\n        link: br%d\n", i, j, i)
			fmt.Fprintf(&b, "        addresses: [10.%d.%d.%d/16, \"fd00:%d::%x/64\"]\n", i, h/256, h%256, i, h)
			fmt.Fprintf(&b, "    routes:\n      - {to: default, via: 10.%d.0.1}\n", i)
		}
	}
	return []byte(b.String())
}
