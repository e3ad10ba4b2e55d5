package kernel_test

import (
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/nslab/nslab/kernel"
	"github.com/nslab/nslab/nslabtest"
)

// TestNeighConn: DoEach opens a NeighConn in each of two namespaces in
// one pass; Links reads the index and MAC address that ip shows (and an
// error for a missing link); AddPermanent makes permanent entries marked
// with nslab's protocol, leaves an entry that is there already as it was
// (ErrNeighExists); DeleteNeighs removes what it made, and a second time
// is no error.
func TestNeighConn(t *testing.T) {
	lab, a, b, c := nodesAB(t)
	apply(t, c,
		&kernel.VethAdd{NS: a, Name: "eth0", PeerNS: b, PeerName: "eth1"},
		&kernel.LinkSetup{NS: a, Name: "eth0", Addresses: []netip.Prefix{netip.MustParsePrefix("10.95.0.1/24"), netip.MustParsePrefix("fd95::1/64")}},
		&kernel.LinkSetup{NS: b, Name: "eth1", Addresses: []netip.Prefix{netip.MustParsePrefix("10.95.0.2/24")}},
	)
	conns := make([]*kernel.NeighConn, 2)
	paths := []string{kernel.NetnsPath(a), kernel.NetnsPath(b), "/run/netns/" + lab + ".missing"}
	var missing error
	if err := kernel.DoEach(paths, func(i int, err error) {
		if i == 2 {
			missing = err
			return
		}
		if err != nil {
			t.Errorf("entering %s: %v", paths[i], err)
			return
		}
		if conns[i], err = kernel.OpenNeighConn(); err != nil {
			t.Error(err)
		}
	}); err != nil {
		t.Fatal(err)
	}
	if missing == nil || !strings.Contains(missing.Error(), ".missing") {
		t.Errorf("DoEach on a missing namespace: err %v, want one naming it", missing)
	}
	if conns[0] == nil || conns[1] == nil {
		t.FailNow()
	}
	defer conns[0].Close()
	defer conns[1].Close()

	las, errs, err := conns[1].Links([]string{"eth1", "eth7"})
	if err != nil || errs[0] != nil || errs[1] == nil {
		t.Fatalf("Links(eth1, eth7) = %v, %v; want eth1 read and eth7 missing", errs, err)
	}
	shown := nslabtest.IP(t, "-n", b, "-o", "link", "show", "eth1")
	// ip may print warnings before (other labs' namespaces coming and
	// going): the link's line is what counts.
	if las[0].Index == 0 || !strings.Contains("\n"+shown, "\n"+itoa(las[0].Index)+": eth1") || !strings.Contains(shown, las[0].MAC.String()) {
		t.Errorf("Links(eth1) = %+v; ip shows:\n%s", las[0], shown)
	}
	own, _, _ := conns[0].Links([]string{"eth0"})

	nslabtest.IP(t, "-n", a, "neigh", "replace", "10.95.0.9", "lladdr", "02:00:00:00:95:09", "dev", "eth0", "nud", "reachable")
	es := []kernel.Neigh{
		{Index: own[0].Index, Addr: netip.MustParseAddr("10.95.0.2"), MAC: las[0].MAC},
		{Index: own[0].Index, Addr: netip.MustParseAddr("fd95::2"), MAC: las[0].MAC},
		{Index: own[0].Index, Addr: netip.MustParseAddr("10.95.0.9"), MAC: net.HardwareAddr{2, 0, 0, 0, 0x95, 0x99}},
	}
	errs, err = conns[0].AddPermanent(es)
	if err != nil || errs[0] != nil || errs[1] != nil || !errors.Is(errs[2], kernel.ErrNeighExists) {
		t.Fatalf("AddPermanent = %v, %v; want the first two made, the third there already", errs, err)
	}
	shown = nslabtest.IP(t, "-n", a, "neigh", "show", "dev", "eth0")
	for _, want := range []string{"10.95.0.2 lladdr " + las[0].MAC.String() + " PERMANENT proto 78",
		"fd95::2 lladdr " + las[0].MAC.String() + " PERMANENT proto 78", "10.95.0.9 lladdr 02:00:00:00:95:09 REACHABLE"} {
		if !strings.Contains(shown, want) {
			t.Errorf("after AddPermanent, no %q in:\n%s", want, shown)
		}
	}
	for range 2 {
		if errs, err := conns[0].DeleteNeighs(es[:2]); err != nil || errors.Join(errs...) != nil {
			t.Errorf("DeleteNeighs = %v, %v", errs, err)
		}
	}
	shown = nslabtest.IP(t, "-n", a, "neigh", "show", "dev", "eth0")
	if strings.Contains(shown, "PERMANENT") || !strings.Contains(shown, "10.95.0.9 ") {
		t.Errorf("after DeleteNeighs, want 10.95.0.9 alone:\n%s", shown)
	}
}

func itoa(n int) string {
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}
