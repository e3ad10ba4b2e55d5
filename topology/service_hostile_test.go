package topology

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestServicesHostile checks hostile uses of services: chains and cycles
// of after: thousands long, ten thousand services, huge values. Each is
// decided within the limit, with the message it should have.
func TestServicesHostile(t *testing.T) {
	// The slowest takes about 100 ms here; the margin is for a busy CI.
	limit := 2 * time.Second * timeScale
	const n = 10_000
	chain := func(cycle bool) string { // s0 after s1 after ... s(n-1) (after s0)
		var b strings.Builder
		b.WriteString("name: hostile\nnodes:\n  a:\n    services:\n")
		for i := range n {
			next := i + 1
			if next == n {
				if !cycle {
					fmt.Fprintf(&b, "      s%d: x\n", i)
					continue
				}
				next = 0
			}
			fmt.Fprintf(&b, "      s%d: {command: x, after: [s%d]}\n", i, next)
		}
		return b.String()
	}
	crossNodes := func() string { // n nodes, each service after the previous node's
		var b strings.Builder
		b.WriteString("name: hostile\nnodes:\n")
		for i := range n {
			after := ""
			if i > 0 {
				after = fmt.Sprintf(", after: [n%d/s]", i-1)
			}
			fmt.Fprintf(&b, "  n%d: {services: {s: {command: [sleep, infinity]%s}}}\n", i, after)
		}
		return b.String()
	}
	many := func() string { // n services, each after all of the 10 before it
		var b strings.Builder
		b.WriteString("name: hostile\nnodes:\n  a:\n    services:\n")
		for i := range n {
			var after []string
			for j := max(0, i-10); j < i; j++ {
				after = append(after, fmt.Sprintf("s%d", j))
			}
			fmt.Fprintf(&b, "      s%d: {command: \"exec sleep %d\", after: [%s], ready: {tcp: %d}}\n", i, i, strings.Join(after, ", "), 1+i%65535)
		}
		return b.String()
	}
	manyCycles := func() string { // n/2 cycles of two: only maxErrors are reported
		var b strings.Builder
		b.WriteString("name: hostile\nnodes:\n  a:\n    services:\n")
		for i := 0; i < n; i += 2 {
			fmt.Fprintf(&b, "      s%d: {command: x, after: [s%d]}\n      s%d: {command: x, after: [s%d]}\n", i, i+1, i+1, i)
		}
		return b.String()
	}
	long := func(k int) string { return strings.Repeat("x", k) }
	for _, tc := range []struct {
		name, data string
		want       string // the first error; "" for accepted
		services   int
	}{
		{"a chain of 10k after:", chain(false), "", n},
		{"a cycle of 10k after:", chain(true), "hostile.yaml:5:32: nodes.a.services.s0.after: services wait for each other in a cycle of 10000: a/s0 -> a/s1 -> a/s2 -> a/s3 -> a/s4 -> a/s5 -> ... (9990 more) -> a/s9996 -> a/s9997 -> a/s9998 -> a/s9999 -> a/s0 (the other after: entries: a/s1 at 6:32, a/s2 at 7:32, a/s3 at 8:32, a/s4 at 9:32, a/s5 at 10:32, ... (9999 in all)); remove one of these after: entries", 0},
		{"10k nodes, a chain across them", crossNodes(), "", n},
		{"10k services, 100k after: entries", many(), "", n},
		{"5k cycles", manyCycles(), "hostile.yaml:5:32: nodes.a.services.s0.after: services wait for each other in a cycle of 2: a/s0 -> a/s1 -> a/s0 (the other after: entries: a/s1 at 6:32); remove one of these after: entries\nhostile.yaml:7:32: nodes.a.services.s2.after: services wait for each other in a cycle of 2: a/s2 -> a/s3 -> a/s2", 0},
		{"a command of 1024 bytes", "name: hostile\nnodes: {a: {services: {s: \"" + long(1024) + "\"}}}\n", "", 1},
		{"a command of 1025 bytes", "name: hostile\nnodes: {a: {services: {s: \"" + long(1025) + "\"}}}\n",
			`hostile.yaml:2:27: value "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx..." is 1025 bytes long; a value in a topology file is at most 1024 bytes`, 0},
		{"an argument of 1MB", "name: hostile\nnodes: {a: {services: {s: [x, " + long(1<<20) + "]}}}\n",
			`hostile.yaml:2:31: value "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx..." is 1048576 bytes long; a value in a topology file is at most 1024 bytes`, 0},
		{"10k env variables", "name: hostile\nnodes: {a: {services: {s: {command: x, env: {" + envs(n) + "}}}}}\n", "", 1},
		{"a long bad after:", "name: hostile\nnodes: {a: {services: {s: {command: x, after: [" + long(1000) + "]}}}}\n",
			`hostile.yaml:2:48: nodes.a.services.s.after: service "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx...": service name "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx..." is 1000 bytes long; the limit is 32`, 0},
		{"a hostile service name", "name: hostile\nnodes: {a: {services: {\"s\\e[31m\\nfake.yaml:1:1: ok\": x}}}\n",
			`hostile.yaml:2:24: service name "s\x1b[31m\nfake.yaml:1:1: ok" contains the control character U+001B; use letters, digits, '_' and '-', starting with a letter or digit`, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, err := parseTime("hostile.yaml", []byte(tc.data), limit)
			if d > limit {
				t.Errorf("decided in %v of CPU time, more than %v", d, limit)
			}
			t.Logf("%d bytes in %v", len(tc.data), d)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("refused: %.500v", err)
				}
				l, _ := Parse("hostile.yaml", []byte(tc.data))
				got := 0
				for _, n := range l.Nodes {
					got += len(n.Services)
				}
				if got != tc.services {
					t.Errorf("%d services, want %d", got, tc.services)
				}
				return
			}
			got := fmt.Sprint(err)
			if !strings.HasPrefix(got, tc.want) {
				t.Errorf("got\n%.600s\nwant it to start with\n%s", got, tc.want)
			}
		})
	}
}

func envs(n int) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "V%d: %d", i, i)
	}
	return b.String()
}
