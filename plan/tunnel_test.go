package plan

import (
	"strings"
	"testing"

	"github.com/nslab/nslab/kernel"
	"github.com/nslab/nslab/topology"
)

const acrossSrc = `name: across
hosts:
  h1: {local: true, address: 192.0.2.1}
  h2: {ssh: root@192.0.2.2, address: 192.0.2.2}
  h3: {ssh: h3, address: 192.0.2.3}
addressing: {pool: [10.77.0.0/16]}
bridges:
  lan: {}
nodes:
  a: {host: h1, interfaces: {eth0: {link: lan}, eth1: {link: b:eth0}}}
  b: {host: h2, interfaces: {eth0: {}}}
  x: {host: h2, interfaces: {eth0: {link: lan}}}
  y: {host: h3, interfaces: {eth0: {link: lan}}}
`

// TestTunnelPlan: a machine's share is built with a VXLAN port on each
// bridge whose segment reaches other machines (marked, IPv6 off like any
// port), and a running share reconciled with itself changes nothing.
func TestTunnelPlan(t *testing.T) {
	l, err := topology.Parse("across.yaml", []byte(acrossSrc))
	if err != nil {
		t.Fatal(err)
	}
	s, err := topology.Share(l, topology.Place(l), "h2")
	if err != nil {
		t.Fatal(err)
	}
	p, err := Up(s, holderState(s.Name))
	if err != nil {
		t.Fatal(err)
	}
	got := script(t, p)
	lan, cable := TunnelName("across", "lan"), TunnelName("across", "x-a.eth1-b.eth0")
	for _, want := range []string{
		"ip link add " + lan + " mtu 1450 type vxlan id ",
		" local 192.0.2.2 dstport 4789",
		"bridge fdb append 00:00:00:00:00:00 dev " + lan + " dst 192.0.2.1",
		"bridge fdb append 00:00:00:00:00:00 dev " + lan + " dst 192.0.2.3",
		"bridge fdb append 00:00:00:00:00:00 dev " + cable + " dst 192.0.2.1",
		`alias "nslab:across:tunnel:lan"`,
		"ip link set " + lan + " master " + BridgeName("across", "lan") + " up",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("the plan of h2's share lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "dev "+cable+" dst 192.0.2.3") {
		t.Errorf("the cable a -- b tunnels to h3, which has no end of it:\n%s", got)
	}
	if !strings.Contains(got, "/proc/sys/net/ipv6/conf/"+lan+"/disable_ipv6") && !strings.Contains(got, lan+" disable_ipv6") && !strings.Contains(got, "net.ipv6.conf."+lan+".disable_ipv6") {
		t.Errorf("IPv6 is not turned off on the tunnel port %s:\n%s", lan, got)
	}

	// Running as planned: reconciling the share with itself keeps its tunnels.
	st := holderState(s.Name)
	for _, b := range s.Bridges {
		st.Links[BridgeName(s.Name, b.Name)] = &kernel.RootLink{Alias: kernel.Marker(s.Name, kernel.KindBridge, b.Name)}
		if b.Tunnel != nil {
			st.Links[TunnelName(s.Name, b.Name)] = &kernel.RootLink{Alias: kernel.Marker(s.Name, kernel.KindTunnel, b.Name)}
		}
	}
	for _, lk := range s.Links {
		st.Links[PortName(s.Name, lk.A.Node, lk.A.Name)] = &kernel.RootLink{Alias: kernel.Marker(s.Name, kernel.KindPort, lk.A.Node+":"+lk.A.Name)}
	}
	for _, n := range s.Nodes {
		st.Namespaces[NetnsName(s.Name, n.Name)] = kernel.Marker(s.Name, kernel.KindNode, n.Name)
	}
	r, err := Reconcile(s, s, st)
	if err != nil {
		t.Fatal(err)
	}
	if rs := script(t, r); strings.Contains(rs, "vxlan") || strings.Contains(rs, "link del") {
		t.Errorf("reconciling a running share with itself touches its tunnels:\n%s", rs)
	}
}
