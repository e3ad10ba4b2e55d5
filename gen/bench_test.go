package gen

import (
	"testing"

	"github.com/nslab/nslab/topology"
)

var fabric10k = LeafSpine{Spines: 4, Leaves: 100, HostsPerLeaf: 100}

// BenchmarkLeafSpine10k generates a fabric of 10,104 nodes and parses and
// validates it.
func BenchmarkLeafSpine10k(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		out, err := Generate(fabric10k, Options{})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := topology.Parse("fabric.yaml", out); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkGenerateLeafSpine10k times the generation alone.
func BenchmarkGenerateLeafSpine10k(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		out, err := Generate(fabric10k, Options{})
		if err != nil {
			b.Fatal(err)
		}
		b.SetBytes(int64(len(out)))
	}
}
