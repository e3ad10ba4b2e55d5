package kernel_test

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/nslab/nslab/kernel"
	"github.com/nslab/nslab/nslabtest"
)

// nodesAB makes a lab of the test with two nodes, a and b, on c. In
// t.Cleanup it deletes the nodes (after what the test's own cleanups
// remove, such as rootLinks), closes c and checks that nothing of the lab
// is left.
func nodesAB(t *testing.T) (lab, a, b string, c *kernel.Conn) {
	t.Helper()
	nslabtest.RequireRoot(t)
	nslabtest.HoldNetnsDir(t)
	lab = nslabtest.Name("k")
	a, b = lab+".a", lab+".b"
	c = kernel.NewConn()
	t.Cleanup(func() {
		for _, op := range []kernel.Op{&kernel.NetnsDel{Name: a}, &kernel.NetnsDel{Name: b}} {
			if err := op.Apply(c); err != nil {
				t.Error(err)
			}
		}
		c.Close()
		nslabtest.CheckLeaks(t, lab)
	})
	apply(t, c,
		&kernel.NetnsAdd{Name: a, Marker: kernel.Marker(lab, kernel.KindNode, "a")},
		&kernel.NetnsAdd{Name: b, Marker: kernel.Marker(lab, kernel.KindNode, "b")},
	)
	return lab, a, b, c
}

// rootLinks names a root-namespace link for each prefix, unique to the
// lab (the prefix and the lab's name without dashes, at most 15 bytes),
// and deletes them in t.Cleanup, before nodesAB's nodes.
func rootLinks(t *testing.T, c *kernel.Conn, lab string, prefixes ...string) []string {
	t.Helper()
	names := make([]string, len(prefixes))
	for i, p := range prefixes {
		names[i] = p + strings.ReplaceAll(lab, "-", "")[1:]
		if len(names[i]) > 15 {
			names[i] = names[i][:15]
		}
	}
	t.Cleanup(func() {
		for _, n := range names {
			if err := (&kernel.LinkDel{Name: n}).Apply(c); err != nil {
				t.Error(err)
			}
		}
	})
	return names
}

// apply runs ops in order and fails the test on the first error.
func apply(t *testing.T, c *kernel.Conn, ops ...kernel.Op) {
	t.Helper()
	for _, op := range ops {
		if err := op.Apply(c); err != nil {
			t.Fatalf("%s:\n%v", op, err)
		}
	}
}

func TestOpsBuildWhatIPSees(t *testing.T) {
	nslabtest.RequireRoot(t)
	nslabtest.HoldNetnsDir(t)
	lab := nslabtest.Name("k")
	a, b := lab+".a", lab+".b"
	br, port := "nlt"+strings.ReplaceAll(lab, "-", "")[1:], "nlp"+strings.ReplaceAll(lab, "-", "")[1:]
	c := kernel.NewConn()
	t.Cleanup(func() {
		for _, op := range []kernel.Op{&kernel.LinkDel{Name: port}, &kernel.LinkDel{Name: br}, &kernel.NetnsDel{Name: a}, &kernel.NetnsDel{Name: b}} {
			if err := op.Apply(c); err != nil {
				t.Error(err)
			}
		}
		c.Close()
		nslabtest.CheckLeaks(t, lab)
	})
	mac := net.HardwareAddr{0x02, 0, 0, 0, 0xaa, 0x01}
	apply(t, c,
		&kernel.NetnsAdd{Name: a, Marker: kernel.Marker(lab, "node", "a"), Sysctls: []kernel.Sysctl{{Key: "net.ipv6.conf.default.accept_dad", Value: "0"}, {Key: "net.ipv4.ip_forward", Value: "1"}}},
		&kernel.NetnsAdd{Name: b, Marker: kernel.Marker(lab, "node", "b")},
		&kernel.BridgeAdd{Name: br, Tags: kernel.Tags{Alias: kernel.Marker(lab, "bridge", "br"), AltName: lab + ".br"}},
		&kernel.VethAdd{NS: a, Name: "p0", MTU: 1400, PeerNS: b, PeerName: "p1", PeerMAC: mac},
		&kernel.VethAdd{Name: port, Tags: kernel.Tags{Alias: kernel.Marker(lab, "port", "a:eth0"), AltName: lab + ".a.eth0"}, Master: br, PeerNS: a, PeerName: "eth0"},
		&kernel.PortsIPv6Off{Names: []string{port}},
		&kernel.LinkSetup{NS: a, Name: "p0", Addresses: []netip.Prefix{netip.MustParsePrefix("10.91.0.1/24"), netip.MustParsePrefix("fd10:91::1/64")}},
		&kernel.LinkSetup{NS: b, Name: "p1", Addresses: []netip.Prefix{netip.MustParsePrefix("10.91.0.2/24")}},
		&kernel.RouteAdd{NS: b, To: netip.MustParsePrefix("10.92.0.0/16"), Via: netip.MustParseAddr("10.91.0.1"), Metric: 5},
	)

	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"netns", "list"}, []string{a, b}},
		{[]string{"-n", a, "-d", "link", "show", "lo"}, []string{"alias nslab:" + lab + ":node:a", "UP"}},
		{[]string{"-n", a, "addr", "show", "p0"}, []string{"10.91.0.1/24", "fd10:91::1/64", "mtu 1400"}},
		{[]string{"-n", b, "link", "show", "p1"}, []string{"02:00:00:00:aa:01", "mtu 1400"}},
		{[]string{"-n", b, "route"}, []string{"10.92.0.0/16 via 10.91.0.1 dev p1 proto 78 metric 5"}},
		{[]string{"-d", "link", "show", lab + ".a.eth0"}, []string{"master " + br, "alias nslab:" + lab + ":port:a:eth0"}},
		{[]string{"-n", a, "link", "show", "eth0"}, []string{"eth0@"}},
	} {
		out := nslabtest.IP(t, tc.args...)
		for _, w := range tc.want {
			if !strings.Contains(out, w) {
				t.Errorf("ip %s lacks %q:\n%s", strings.Join(tc.args, " "), w, out)
			}
		}
	}
	if out, err := os.ReadFile("/proc/sys/net/ipv6/conf/" + port + "/disable_ipv6"); err != nil || strings.TrimSpace(string(out)) != "1" {
		t.Errorf("bridge port %s: disable_ipv6 = %q, %v; want 1", port, out, err)
	}
	if out, _ := os.ReadFile("/proc/sys/net/ipv4/ip_forward"); strings.TrimSpace(string(out)) != "0" {
		t.Errorf("a sysctl of a node leaked to the host: ip_forward=%s", out)
	}
	if addr := nslabtest.IP(t, "-n", a, "addr", "show", "p0"); strings.Contains(addr, "tentative") {
		t.Errorf("IPv6 address still tentative:\n%s", addr)
	}

	st, err := kernel.Observe(c, func(ns string) bool { return strings.HasPrefix(ns, lab+".") })
	if err != nil {
		t.Fatal(err)
	}
	if st.Namespaces[a] != kernel.Marker(lab, "node", "a") || st.Names[lab+".br"] != br || st.Links[port].Alias != kernel.Marker(lab, "port", "a:eth0") {
		t.Errorf("observe: ns %q, altname -> %q, port %+v", st.Namespaces[a], st.Names[lab+".br"], st.Links[port])
	}

	// A node observed in full: its links, addresses, nslab's routes (not
	// the kernel's) and the sysctls asked for.
	nslabtest.IP(t, "-n", b, "route", "add", "10.93.0.0/16", "via", "10.91.0.1", "proto", "static")
	nodes, err := kernel.ObserveNodes(c, []string{a, b, lab + ".none"}, func(string) []string { return []string{"net.ipv4.ip_forward"} })
	if err != nil {
		t.Fatal(err)
	}
	nb, na := nodes[b], nodes[a]
	if len(nodes) != 2 || nb == nil || na == nil {
		t.Fatalf("observed %d nodes: %v", len(nodes), nodes)
	}
	want := kernel.Route{To: netip.MustParsePrefix("10.92.0.0/16"), Via: netip.MustParseAddr("10.91.0.1"), Dev: "p1", Metric: 5}
	if len(nb.Routes) != 1 || nb.Routes[0] != want {
		t.Errorf("b's routes of nslab: %+v, want %+v", nb.Routes, want)
	}
	if l := nb.Links["p1"]; l == nil || !l.Up || l.MTU != 1400 || l.MAC.String() != mac.String() {
		t.Errorf("b's p1: %+v", l)
	}
	if na.Sysctls["net.ipv4.ip_forward"] != "1" || nb.Sysctls["net.ipv4.ip_forward"] != "0" {
		t.Errorf("ip_forward: a %q, b %q", na.Sysctls["net.ipv4.ip_forward"], nb.Sysctls["net.ipv4.ip_forward"])
	}
	if !slices.Contains(na.Addrs["p0"], netip.MustParsePrefix("fd10:91::1/64")) {
		t.Errorf("a's p0 addresses: %v", na.Addrs["p0"])
	}

	err = (&kernel.NetnsAdd{Name: a, Marker: "x"}).Apply(c)
	if !errors.Is(err, syscall.EEXIST) || !strings.Contains(err.Error(), a) {
		t.Errorf("creating an existing namespace: %v", err)
	}
}

func TestMarkerRoundTrip(t *testing.T) {
	l, k, n, ok := kernel.ParseMarker(kernel.Marker("lab", "port", "r1:eth0"))
	if !ok || l != "lab" || k != "port" || n != "r1:eth0" {
		t.Errorf("ParseMarker = %q %q %q %v", l, k, n, ok)
	}
	for _, s := range []string{"", "nslab:", "nslab::x:y", "other:lab:node:x", "nslab:lab"} {
		if _, _, _, ok := kernel.ParseMarker(s); ok {
			t.Errorf("ParseMarker(%q) accepted", s)
		}
	}
}
