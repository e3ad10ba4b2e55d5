package lab_test

import (
	"context"
	"strings"
	"testing"

	"github.com/nslab/nslab/kernel"
	"github.com/nslab/nslab/lab"
	"github.com/nslab/nslab/nslabtest"
	"github.com/nslab/nslab/plan"
	"github.com/nslab/nslab/topology"
)

// vlanTopo: access ports in VLANs 10 and 20 on two bridges joined by a
// trunk that carries both tagged, and a port in the default VLAN.
const vlanTopo = `
bridges:
  sw1: {}
  sw2: {link: sw1, vlans: [10, 20]}
nodes:
  a: {interfaces: {eth0: {link: sw1, vlan: 10, addresses: [V10.1/24]}}}
  b: {interfaces: {eth0: {link: sw2, vlan: 10, addresses: [V10.2/24]}}}
  c: {interfaces: {eth0: {link: sw1, vlan: 20, addresses: [V20.1/24]}}}
  d: {interfaces: {eth0: {link: sw2, vlan: 20, addresses: [V20.2/24]}}}
  e: {interfaces: {eth0: {link: sw2, addresses: [V1.1/24]}}}
  r: {router: true, interfaces: {eth0: {link: sw1, vlans: [10, 20]}}}
`

// TestBridgeVLANs proves VLAN isolation with traffic: ports of VLAN 10
// reach each other across the tagged trunk, as do VLAN 20's; a VLAN 20
// port and a default-VLAN port given an address of VLAN 10's subnet (by
// hand) are not reached from VLAN 10: the bridges keep the VLANs apart,
// not the addressing. A router on a stick (a tagged port carrying both,
// its vlan sub-interfaces made by hand) routes a to d over one cable. Then the file moves a from VLAN 10 to 20 on the
// running lab: a reaches d, no longer b, and nothing else was made anew.
// Down leaves nothing. Runs where bridges filter VLANs (the stock-kernel
// VM here: vmNeeds).
func TestBridgeVLANs(t *testing.T) {
	if err := kernel.BridgeVLANSupported(); err != nil {
		t.Skipf("kernel %s: %v", nslabtest.Kernel(t), err)
	}
	v10, v20, v1 := nslabtest.Subnet(t), nslabtest.Subnet(t), nslabtest.Subnet(t)
	r := strings.NewReplacer("V10", v10, "V20", v20, "V1", v1)
	tl := segUp(t, r.Replace(vlanTopo))
	ip := func(node string, args ...string) string {
		return nslabtest.IP(t, append([]string{"-n", plan.NetnsName(tl.Name, node)}, args...)...)
	}
	st, err := lab.GetStatus(tl.Name)
	if err != nil {
		t.Fatal(err)
	}
	peers := map[string]string{}
	for _, n := range st.Nodes {
		for _, i := range n.Interfaces {
			peers[n.Name+":"+i.Name] = i.Peer
		}
	}
	if peers["a:eth0"] != "sw1 vlan 10" || peers["r:eth0"] != "sw1 vlans 10,20" || peers["e:eth0"] != "sw2" {
		t.Errorf("status peers: %v", peers)
	}
	expectPing(t, tl, "VLAN 10 across the trunk", "a", true, v10+".2")
	expectPing(t, tl, "VLAN 20 across the trunk", "c", true, v20+".2")
	ip("d", "addr", "add", v10+".20/24", "dev", "eth0")
	ip("e", "addr", "add", v10+".30/24", "dev", "eth0")
	ip("c", "addr", "add", v10+".21/24", "dev", "eth0")
	expectPing(t, tl, "VLAN 10 to a VLAN 20 port on the other bridge", "a", false, v10+".20")
	expectPing(t, tl, "VLAN 10 to a VLAN 20 port on the same bridge", "a", false, v10+".21")
	expectPing(t, tl, "VLAN 10 to a default-VLAN port", "a", false, v10+".30")
	ip("d", "addr", "del", v10+".20/24", "dev", "eth0")
	ip("c", "addr", "del", v10+".21/24", "dev", "eth0")

	// Router on a stick: r's one port carries 10 and 20 tagged; its vlan
	// sub-interfaces (made by hand here) route between the VLANs.
	for _, v := range []struct{ id, sub string }{{"10", v10}, {"20", v20}} {
		ip("r", "link", "add", "link", "eth0", "name", "eth0."+v.id, "type", "vlan", "id", v.id)
		ip("r", "addr", "add", v.sub+".254/24", "dev", "eth0."+v.id)
		ip("r", "link", "set", "eth0."+v.id, "up")
	}
	ip("a", "route", "add", v20+".0/24", "via", v10+".254")
	ip("d", "route", "add", v10+".0/24", "via", v20+".254")
	expectPing(t, tl, "tagged port: VLAN 10 to r", "a", true, v10+".254")
	expectPing(t, tl, "tagged port across the trunk: VLAN 20 to r", "d", true, v20+".254")
	expectPing(t, tl, "VLAN 10 to VLAN 20 through r, on one cable", "a", true, v20+".2")
	ip("a", "route", "del", v20+".0/24", "via", v10+".254")

	// Reconcile: a moves to VLAN 20, with an address there.
	before := ip("b", "-o", "link", "show", "eth0")
	moved := strings.Replace(r.Replace(vlanTopo), "vlan: 10, addresses: ["+v10+".1/24]", "vlan: 20, addresses: ["+v20+".3/24]", 1)
	src := []byte("name: " + tl.Name + "\n" + moved)
	t2, err := topology.Parse(tl.Name+".yaml", src)
	if err != nil {
		t.Fatal(err)
	}
	if err := lab.Up(context.Background(), t2, src, lab.Options{}); err != nil {
		t.Fatalf("up with a in VLAN 20: %v", err)
	}
	expectPing(t, tl, "a moved to VLAN 20", "a", true, v20+".2", v20+".1")
	ip("a", "addr", "add", v10+".1/24", "dev", "eth0")
	expectPing(t, tl, "a moved out of VLAN 10", "a", false, v10+".2")
	if after := ip("b", "-o", "link", "show", "eth0"); after != before {
		t.Errorf("b's port was touched by a's move:\n%s\n%s", before, after)
	}
}
