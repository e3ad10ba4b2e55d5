package plan

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/nslab/nslab/kernel"
	"github.com/nslab/nslab/topology"
)

// TestPublishAddressOnHost: a named publish address must be the host's
// (or the lab's own host address, or loopback); checked at up, at the
// line of the entry.
func TestPublishAddressOnHost(t *testing.T) {
	src := `name: p
bridges: {lan: {addresses: [10.9.0.1/24]}}
nodes:
  n1:
    interfaces: {eth0: {link: lan, addresses: [10.9.0.2/24]}}
    publish: ["192.0.2.7:8080:80", "10.9.0.1:8081:80", "127.0.0.2:8082:80", "0.0.0.0:8083:80", "198.51.100.1:8084:80"]
`
	tl, err := topology.Parse("p.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	st := emptyState()
	st.Addrs = append(st.Addrs, kernel.HostAddr{Prefix: netip.MustParsePrefix("198.51.100.1/24"), Link: "eth0"})
	_, err = Up(tl, st)
	want := "p.yaml:6:15: node n1 publishes port 8080 on 192.0.2.7, which is not an address of this host"
	if err == nil || !strings.Contains(err.Error(), want) || strings.Count(err.Error(), "not an address of this host") != 1 {
		t.Errorf("got %v\nwant only %q", err, want)
	}
}
