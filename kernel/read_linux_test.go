package kernel_test

import (
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/nslab/nslab/kernel"
	"github.com/nslab/nslab/nslabtest"
)

// TestReadLinkAndForgetNeighbours: ReadLink reads a node's link as ip
// does (state, MTU, MAC, every address), nil for a link that is not
// there; ForgetNeighbours deletes the neighbours the kernel learnt and
// keeps those set by hand.
func TestReadLinkAndForgetNeighbours(t *testing.T) {
	_, a, b, c := nodesAB(t)
	apply(t, c,
		&kernel.VethAdd{NS: a, Name: "eth0", MTU: 1300, PeerNS: b, PeerName: "eth0"},
		&kernel.LinkSetup{NS: a, Name: "eth0", Addresses: []netip.Prefix{netip.MustParsePrefix("10.94.0.1/24")}},
		&kernel.LinkSetup{NS: b, Name: "eth0", Addresses: []netip.Prefix{netip.MustParsePrefix("10.94.0.2/24")}},
	)

	f, err := kernel.ReadLink(c, a, "eth0")
	if err != nil || f == nil {
		t.Fatalf("ReadLink(%s, eth0) = %+v, %v", a, f, err)
	}
	shown := nslabtest.IP(t, "-n", a, "link", "show", "eth0")
	if f.MTU != 1300 || !slices.Contains(f.Addrs, netip.MustParsePrefix("10.94.0.1/24")) || !strings.Contains(shown, f.MAC.String()) || !strings.Contains(shown, "state "+strings.ToUpper(f.State)) {
		t.Errorf("ReadLink(%s, eth0) = %+v; ip shows:\n%s", a, f, shown)
	}
	if f, err := kernel.ReadLink(c, a, "eth9"); f != nil || err != nil {
		t.Errorf("ReadLink of a missing link = %+v, %v; want nil, nil", f, err)
	}

	nslabtest.IP(t, "-n", a, "neigh", "replace", "10.94.0.2", "lladdr", "02:00:00:00:94:02", "dev", "eth0", "nud", "reachable")
	nslabtest.IP(t, "-n", a, "neigh", "replace", "10.94.0.3", "lladdr", "02:00:00:00:94:03", "dev", "eth0", "nud", "permanent")
	if err := kernel.ForgetNeighbours(kernel.NetnsPath(a)); err != nil {
		t.Fatal(err)
	}
	left := nslabtest.IP(t, "-n", a, "neigh", "show", "dev", "eth0")
	if strings.Contains(left, "10.94.0.2 ") || !strings.Contains(left, "10.94.0.3 ") {
		t.Errorf("after ForgetNeighbours, want 10.94.0.3 (permanent) alone:\n%s", left)
	}
}
