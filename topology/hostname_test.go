package topology

import (
	"strings"
	"testing"
)

// TestHostname: hostname: is kept, defaults to the node's name, and a bad
// one is refused at its line and column.
func TestHostname(t *testing.T) {
	l, err := Parse("t.yaml", []byte("name: x\nnodes:\n  a: {hostname: db-1.example}\n  b: {}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := l.Node("a").HostnameOf(); got != "db-1.example" {
		t.Errorf("a: hostname %q, want db-1.example", got)
	}
	if got := l.Node("b").HostnameOf(); got != "b" {
		t.Errorf("b: hostname %q, want its name", got)
	}
	for _, tc := range []struct{ hostname, want string }{
		{"db_1", `t.yaml:3:17: nodes.a.hostname: hostname "db_1" contains "_"; use letters`},
		{"-db", `t.yaml:3:17: nodes.a.hostname: hostname "-db" has a label "-db" that starts or ends with '-'`},
		{"a..b", `t.yaml:3:17: nodes.a.hostname: hostname "a..b" has an empty label`},
		{"''", `t.yaml:3:17: nodes.a.hostname: hostname is empty`},
		{strings.Repeat("a", 64), "has a label of 64 bytes; the limit is 63"},
		{strings.Repeat("abcdefg.", 8) + "a", "bytes long; the limit is 64"},
	} {
		_, err := Parse("t.yaml", []byte("name: x\nnodes:\n  a: {hostname: "+tc.hostname+"}\n"))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("hostname %s: got %v, want %q", tc.hostname, err, tc.want)
		}
	}
}
