package lab

import (
	"strings"
	"testing"

	"github.com/nslab/nslab/topology"
)

// TestRenderResolv: the lab's resolv.conf names the host's upstream
// servers that the lab's NAT reaches, never a loopback stub or a
// link-local server, and no server at all without nat. It is rendered
// only: no test sends a query to the machine's resolver.
func TestRenderResolv(t *testing.T) {
	const (
		plain    = "search corp.example\nnameserver 192.0.2.53\nnameserver 2001:db8::53\nnameserver fe80::1%eth0\noptions edns0\n"
		stub     = "# systemd-resolved stub\nnameserver 127.0.0.53\noptions edns0 trust-ad\nsearch .\n"
		upstream = "nameserver 198.51.100.1\nnameserver 2001:db8::1\nnameserver 198.51.100.2\n"
	)
	tests := []struct {
		name           string
		nat, nat6      bool
		host, resolved string
		want           []string
	}{
		{"no nat", false, false, plain, "", nil},
		{"nat", true, false, plain, "", []string{"192.0.2.53"}},
		{"nat and nat6", true, true, plain, "", []string{"192.0.2.53", "2001:db8::53"}},
		{"nat behind the resolved stub", true, false, stub, upstream, []string{"198.51.100.1", "198.51.100.2"}},
		{"stub without resolved's file", true, true, stub, "", nil},
		{"loopback only", true, true, "nameserver 127.0.0.1\nnameserver ::1\n", "nameserver 127.0.0.53\n", nil},
		{"no host file", true, true, "", "", nil},
	}
	for _, tc := range tests {
		lab := &topology.Lab{Name: "l", Bridges: []*topology.Bridge{{Name: "b", NAT: tc.nat, NAT6: tc.nat6}, {Name: "c"}}}
		got := string(renderResolv(lab, []byte(tc.host), []byte(tc.resolved)))
		var servers []string
		for line := range strings.Lines(got) {
			if s, ok := strings.CutPrefix(strings.TrimSpace(line), "nameserver "); ok {
				servers = append(servers, s)
			}
			if strings.HasPrefix(line, "search") {
				t.Errorf("%s: the host's search domains were copied:\n%s", tc.name, got)
			}
		}
		if strings.Join(servers, ",") != strings.Join(tc.want, ",") || !strings.Contains(got, "options timeout:1") {
			t.Errorf("%s: got\n%swant the servers %v and short timeouts", tc.name, got, tc.want)
		}
	}
}
