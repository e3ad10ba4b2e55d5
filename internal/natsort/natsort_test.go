package natsort

import (
	"slices"
	"testing"
)

func TestCompare(t *testing.T) {
	got := []string{"h10", "h2", "h1", "leaf10-h2", "leaf2-h10", "leaf2-h9", "h", "h01", "r1.eth10", "r1.eth9", "a", "h100", "b2", "b10x", "b10"}
	slices.SortFunc(got, Compare)
	want := []string{"a", "b2", "b10", "b10x", "h", "h01", "h1", "h2", "h10", "h100", "leaf2-h9", "leaf2-h10", "leaf10-h2", "r1.eth9", "r1.eth10"}
	if !slices.Equal(got, want) {
		t.Errorf("sorted: %v\nwant:   %v", got, want)
	}
	for _, c := range [][2]string{{"h2", "h10"}, {"x9y", "x10y"}, {"", "a"}, {"a1", "a1b"}} {
		if Compare(c[0], c[1]) != -1 || Compare(c[1], c[0]) != 1 || Compare(c[0], c[0]) != 0 {
			t.Errorf("Compare(%q, %q) = %d, reversed %d", c[0], c[1], Compare(c[0], c[1]), Compare(c[1], c[0]))
		}
	}
}
