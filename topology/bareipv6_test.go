package topology_test

import (
	"strings"
	"testing"

	"github.com/nslab/nslab/topology"
)

// TestBareIPv6InFlow: an IPv6 address or pool starting with "::" written
// bare in [ ] or { } (pool: [::/0], addresses: [::1/64]) is a YAML syntax
// error whose message says to quote it, at the address (it said "did not
// find expected node content" at column 1).
func TestBareIPv6InFlow(t *testing.T) {
	for _, c := range []struct{ yaml, want string }{
		{"addressing: {pool: [::/0]}\nnodes: {}\n", `t.yaml:2:21: YAML syntax: ::/0: an IPv6 address that starts with ':' cannot be written bare inside [ ] or { }: quote it ("::/0")`},
		{"bridges:\n  br0: {addresses: [10.0.0.1/24, ::1/64]}\nnodes: {}\n", `t.yaml:3:34: YAML syntax: ::1/64: an IPv6 address`},
		{"nodes:\n  a:\n    routes: [{to: ::/0, via: fd00::1}]\n", `t.yaml:4:19: YAML syntax: ::/0: an IPv6`},
	} {
		_, err := topology.Parse("t.yaml", []byte("name: t\n"+c.yaml))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: %v, want %q", c.yaml, err, c.want)
		}
	}
}
