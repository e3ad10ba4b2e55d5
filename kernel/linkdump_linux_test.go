package kernel_test

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/nslab/nslab/kernel"
	"github.com/nslab/nslab/nslabtest"
)

// TestDumpLargeDatagrams: a namespace with one link of many altnames
// (the kernel then sizes every datagram of a link dump for that link, and
// packs the others in: over 64 KiB, the netlink package's buffer) is
// read whole by every reader of links: Conn.LinkList, WaitUp, Describe,
// ObserveNodes. Before: "listing links: invalid argument".
func TestDumpLargeDatagrams(t *testing.T) {
	nslabtest.RequireRoot(t)
	nslabtest.HoldNetnsDir(t)
	lab := nslabtest.Name("scalecheck-dump")
	ns := lab + ".a"
	c := kernel.NewConn()
	t.Cleanup(func() {
		if err := (&kernel.NetnsDel{Name: ns}).Apply(c); err != nil {
			t.Error(err)
		}
		c.Close()
		nslabtest.CheckLeaks(t, lab)
	})
	apply(t, c, &kernel.NetnsAdd{Name: ns, Marker: kernel.Marker(lab, kernel.KindNode, "a")})
	want := []string{"lo"}
	for i := range 12 {
		a, b := fmt.Sprintf("v%da", i), fmt.Sprintf("v%db", i)
		nslabtest.IP(t, "-n", ns, "link", "add", a, "up", "type", "veth", "peer", "name", b)
		nslabtest.IP(t, "-n", ns, "link", "set", b, "up")
		want = append(want, a, b)
	}
	// The kernel takes altnames while their list, counted at 132 bytes
	// each, stays under 64 KiB: 496 of them; -force goes on past the
	// refusals.
	var cmds strings.Builder
	for i := range 600 {
		fmt.Fprintf(&cmds, "link property add dev v0a altname alt%0120d\n", i)
	}
	batch := exec.Command("ip", "-n", ns, "-force", "-batch", "-")
	batch.Stdin = strings.NewReader(cmds.String())
	batch.CombinedOutput() // fails for the altnames past the limit
	alts := strings.Count(nslabtest.IP(t, "-n", ns, "link", "show", "v0a"), "altname ")
	if alts < 400 {
		t.Fatalf("only %d altnames taken", alts)
	}

	links, err := c.LinkList(ns)
	if err != nil {
		t.Fatalf("LinkList(%s): %v", ns, err)
	}
	got := map[string]int{}
	for _, l := range links {
		got[l.Attrs().Name] = len(l.Attrs().AltNames)
	}
	for _, n := range want {
		if _, ok := got[n]; !ok {
			t.Errorf("LinkList(%s) has no %s: %v", ns, n, got)
		}
	}
	if got["v0a"] != alts {
		t.Errorf("LinkList(%s): v0a has %d altnames, want %d", ns, got["v0a"], alts)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.WaitUp(ctx, ns, want[1:]); err != nil {
		t.Errorf("WaitUp: %v", err)
	}
	ifaces, _, err := c.Describe(ns)
	if err != nil || len(ifaces) != len(want) {
		t.Errorf("Describe(%s) = %d interfaces, %v; want %d", ns, len(ifaces), err, len(want))
	}
	st, err := kernel.ObserveNodes(c, []string{ns}, func(string) []string { return nil })
	if err != nil || st[ns] == nil || len(st[ns].Links) != len(want) {
		t.Errorf("ObserveNodes(%s) = %+v, %v; want %d links", ns, st[ns], err, len(want))
	}
}
