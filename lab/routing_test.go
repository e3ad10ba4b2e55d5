package lab_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/nslab/nslab/check"
	"github.com/nslab/nslab/lab"
	"github.com/nslab/nslab/nslabtest"
)

// TestAutoRouting builds routed labs with no route written (routing:
// auto, addresses from a pool) and checks that every node reaches every
// address: a ring of routers (two paths to choose from), a tree, and a
// ring with a gateway bridge on the host.
func TestAutoRouting(t *testing.T) {
	for _, tc := range []struct {
		name  string
		nodes func(b *strings.Builder)
	}{
		{"ring", func(b *strings.Builder) {
			for i := 1; i <= 4; i++ {
				fmt.Fprintf(b, "  r%d: {router: true, interfaces: {lan: {link: lan%d}, a: {link: r%d:b}, b: {link: r%d:a}}}\n", i, i, i%4+1, (i+2)%4+1)
				fmt.Fprintf(b, "  h%d: {interfaces: {eth0: {link: lan%d}}}\n", i, i)
			}
		}},
		{"tree", func(b *strings.Builder) {
			// root r1, children r2 r3, grandchildren r4 (under r2), r5 (under r3)
			b.WriteString("  r1: {router: true, interfaces: {lan: {link: lan1}, c2: {link: r2:up}, c3: {link: r3:up}}}\n")
			b.WriteString("  r2: {router: true, interfaces: {lan: {link: lan2}, up: {link: r1:c2}, c4: {link: r4:up}}}\n")
			b.WriteString("  r3: {router: true, interfaces: {lan: {link: lan3}, up: {link: r1:c3}, c5: {link: r5:up}}}\n")
			b.WriteString("  r4: {router: true, interfaces: {lan: {link: lan4}, up: {link: r2:c4}}}\n")
			b.WriteString("  r5: {router: true, interfaces: {lan: {link: lan5}, up: {link: r3:c5}}}\n")
			for i := 1; i <= 5; i++ {
				fmt.Fprintf(b, "  h%d: {interfaces: {eth0: {link: lan%d}}}\n", i, i)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b strings.Builder
			v6 := "fd10:" + strings.ReplaceAll(strings.TrimPrefix(nslabtest.Subnet(t), "10."), ".", ":") + "::/48"
			fmt.Fprintf(&b, "routing: auto\naddressing: {pool: [%s]}\nbridges: {lan1: {}, lan2: {}, lan3: {}, lan4: {}, lan5: {}}\nnodes:\n", v6)
			tc.nodes(&b)
			tl := up(t, b.String())
			rep, err := lab.Check(context.Background(), tl, check.Options{})
			if err != nil || rep.Failed > 0 || rep.Passed == 0 {
				var m strings.Builder
				if rep != nil {
					rep.WriteMatrix(&m)
				}
				t.Errorf("check: %v, %d passed, %d failed\n%s", err, rep.Passed, rep.Failed, m.String())
			}
		})
	}
}

// TestAutoRoutingFatTree: a k=4 fat-tree of routers (4 core, 8
// aggregation, 8 edge switches, 16 hosts), no route written.
func TestAutoRoutingFatTree(t *testing.T) {
	const k = 4
	var b strings.Builder
	v6 := "fd10:" + strings.ReplaceAll(strings.TrimPrefix(nslabtest.Subnet(t), "10."), ".", ":") + "::/48"
	fmt.Fprintf(&b, "routing: auto\naddressing: {pool: [%s]}\nbridges: {", v6)
	for p := 0; p < k; p++ {
		for e := 0; e < k/2; e++ {
			fmt.Fprintf(&b, "lan%d-%d: {}, ", p, e)
		}
	}
	b.WriteString("}\nnodes:\n")
	// core c<i>-<j> (i,j < k/2) links to aggregation a<p>-<i> of every pod p, port j.
	for i := 0; i < k/2; i++ {
		for j := 0; j < k/2; j++ {
			fmt.Fprintf(&b, "  c%d-%d: {router: true, interfaces: {", i, j)
			for p := 0; p < k; p++ {
				fmt.Fprintf(&b, "p%d: {link: a%d-%d:c%d}, ", p, p, i, j)
			}
			b.WriteString("}}\n")
		}
	}
	for p := 0; p < k; p++ {
		for i := 0; i < k/2; i++ {
			fmt.Fprintf(&b, "  a%d-%d: {router: true, interfaces: {", p, i)
			for j := 0; j < k/2; j++ {
				fmt.Fprintf(&b, "c%d: {link: c%d-%d:p%d}, ", j, i, j, p)
			}
			for e := 0; e < k/2; e++ {
				fmt.Fprintf(&b, "e%d: {link: e%d-%d:a%d}, ", e, p, e, i)
			}
			b.WriteString("}}\n")
		}
		for e := 0; e < k/2; e++ {
			fmt.Fprintf(&b, "  e%d-%d: {router: true, interfaces: {lan: {link: lan%d-%d}, ", p, e, p, e)
			for i := 0; i < k/2; i++ {
				fmt.Fprintf(&b, "a%d: {link: a%d-%d:e%d}, ", i, p, i, e)
			}
			b.WriteString("}}\n")
			for h := 0; h < k/2; h++ {
				fmt.Fprintf(&b, "  h%d-%d-%d: {interfaces: {eth0: {link: lan%d-%d}}}\n", p, e, h, p, e)
			}
		}
	}
	tl := up(t, b.String())
	rep, err := lab.Check(context.Background(), tl, check.Options{Sample: -1})
	if err != nil || rep.Failed > 0 || rep.Passed == 0 {
		t.Errorf("check of a fat-tree with automatic routes: %v, %d passed, %d failed", err, rep.Passed, rep.Failed)
	}
	t.Logf("%d probes passed", rep.Passed)
}
