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

// BenchmarkParseServices parses a star of 1000 nodes without services,
// then with one service each (a command, a TCP readiness check and an
// after: on the previous node's service), then with ten each: the cost of
// decoding and checking services, after: and its cycle search included.
func BenchmarkParseServices(b *testing.B) {
	for _, per := range []int{0, 1, 10} {
		data := serviceLab(1000, per)
		b.Run(fmt.Sprintf("1000-nodes-%d-services-each", per), func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Parse("star.yaml", data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// serviceLab is a star of n nodes with per services each, every service
// after the one of the same name on the node before.
func serviceLab(n, per int) []byte {
	var b strings.Builder
	b.WriteString("name: star\nbridges:\n  br0: {addresses: [10.0.0.1/16]}\nnodes:\n")
	for i := range n {
		h := i + 2
		fmt.Fprintf(&b, "  n%d:\n    interfaces:\n      eth0: {link: br0, addresses: [10.0.%d.%d/16]}\n", i, h/256, h%256)
		if per > 0 {
			b.WriteString("    services:\n")
		}
		for j := range per {
			after := ""
			if i > 0 {
				after = fmt.Sprintf(", after: [n%d/s%d]", i-1, j)
			}
			fmt.Fprintf(&b, "      s%d: {command: [sleep, infinity], ready: {tcp: %d}%s}\n", j, 9000+j, after)
		}
	}
	return []byte(b.String())
}
