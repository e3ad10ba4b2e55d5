package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nslab/nslab/nslabtest"
)

// TestLabAcrossHostsUnderlayMTU: over an IPv6 underlay whose MTU is 1400
// on h2 (1500 on h1), a cable between the hosts gets 1400 - 70 = 1330 on
// both ends, read on the hosts, and carries frames of that size; an MTU
// written larger is refused before anything is built, with the numbers.
func TestLabAcrossHostsUnderlayMTU(t *testing.T) {
	c := startHosts(t, "h1", "h2")
	h1, h2 := c.Host("h1"), c.Host("h2")
	six := func(i int) string { return fmt.Sprintf("fd4e:%x:%x::%d", os.Getpid()%0xffff, len(t.Name()), i) }
	for i, h := range c.Hosts {
		if out, err := inHost(h, "ip -6 addr add "+six(i+2)+"/64 dev eth0 nodad"); err != nil {
			t.Fatalf("%s: %v\n%s", h.Name, err, out)
		}
	}
	if out, err := inHost(h2, "ip link set eth0 mtu 1400"); err != nil {
		t.Fatalf("h2: %v\n%s", err, out)
	}
	name := nslabtest.Name("mm")
	file := filepath.Join(t.TempDir(), name+".yaml")
	src := fmt.Sprintf(`name: %s
hosts:
  h1: {ssh: h1, address: "%s"}
  h2: {ssh: h2, address: "%s"}
nodes:
  a: {host: h1, interfaces: {eth0: {link: b:eth0, addresses: [10.81.0.1/30]MTU}}}
  b: {host: h2, interfaces: {eth0: {addresses: [10.81.0.2/30]}}}
`, name, six(2), six(3))
	t.Cleanup(func() {
		if r := fleetRun(t, c, "down", "-q", name); r.code != 0 {
			os.Remove(filepath.Join("/run/nslab/.fleet", name+".json"))
		}
	})
	if err := os.WriteFile(file, []byte(strings.Replace(src, "MTU", ", mtu: 1400", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	r := fleetRun(t, c, "up", file)
	if r.code != 1 || !strings.Contains(r.stderr, "mtu 1400 of a:eth0 is too large for the cable a:eth0 -- b:eth0") ||
		!strings.Contains(r.stderr, "h1: eth0 1500, h2: eth0 1400") || !strings.Contains(r.stderr, "VXLAN over IPv6 takes 70 bytes") ||
		!strings.Contains(r.stderr, "so at most 1330") || !strings.Contains(r.stderr, "nothing was built on any host") {
		t.Errorf("up with mtu 1400 over h2's 1400-byte IPv6 underlay: exit %d, want it refused with the numbers\n%s%s", r.code, r.stdout, r.stderr)
	}
	for _, h := range c.Hosts {
		if left := leftOn(h); left != "" {
			t.Errorf("%s after a refused up: left\n%s", h.Name, left)
		}
	}
	if err := os.WriteFile(file, []byte(strings.Replace(src, "MTU", "", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	if r := fleetRun(t, c, "up", "-q", file); r.code != 0 {
		t.Fatalf("up: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	for _, p := range []struct{ host, node string }{{"h1", "a"}, {"h2", "b"}} {
		out, err := onHost(t, c, p.host, bin+" exec "+name+"."+p.node+" -- ip -o link show eth0")
		if err != nil || !strings.Contains(out, " mtu 1330 ") {
			t.Errorf("%s:eth0 on %s: %v, want mtu 1330\n%s", p.node, p.host, err, out)
		}
	}
	// A frame of 1330 bytes crosses, not fragmented (28 bytes of IPv4 and
	// ICMP headers).
	var out string
	var err error
	for try := 0; try < 3; try++ {
		if out, err = onHost(t, c, "h1", bin+" exec "+name+".a -- ping -c 1 -W 3 -M do -s 1302 10.81.0.2"); err == nil {
			break
		}
	}
	if err != nil {
		t.Errorf("a -> b with 1330-byte frames over the IPv6 underlay: %v\n%s", err, out)
	}
	if r := fleetRun(t, c, "down", name); r.code != 0 {
		t.Fatalf("down: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	for _, h := range []string{h1.Name, h2.Name} {
		if left := leftOn(c.Host(h)); left != "" {
			t.Errorf("%s after down: left\n%s", h, left)
		}
	}
}
