package plan

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const vlanLab = `name: vl
bridges:
  sw1: {}
  sw2: {link: sw1, vlans: [10, 20]}
nodes:
  a: {interfaces: {eth0: {link: sw1, vlan: 10}}}
  r: {interfaces: {eth0: {link: sw2, vlans: [10, 20]}}}
`

// TestVLANPlan: a new lab's ports, trunk and host side get their VLANs
// after the ports exist; on a running lab, a VLAN added to or removed
// from a port, an access VLAN changed, a trunk's list changed and the
// host side moved change in place, port by port; a bridge that starts
// filtering VLANs is made anew.
func TestVLANPlan(t *testing.T) {
	a, r := PortName("vl", "a", "eth0"), PortName("vl", "r", "eth0")
	ta, tb := TrunkName("vl", "sw2", "a"), TrunkName("vl", "sw2", "b")
	up, err := Up(parse(t, vlanLab), emptyState())
	if err != nil {
		t.Fatal(err)
	}
	var vlans []string
	for _, s := range up.Stages {
		if s.Name == "vlans" {
			for _, op := range s.Ops {
				vlans = append(vlans, strings.Split(op.String(), "\n")...)
			}
		}
	}
	want := []string{
		"bridge vlan del dev " + a + " vid 1", "bridge vlan add dev " + a + " vid 10 pvid untagged",
		"bridge vlan add dev " + r + " vid 10", "bridge vlan add dev " + r + " vid 20",
		"bridge vlan add dev " + ta + " vid 10", "bridge vlan add dev " + ta + " vid 20",
		"bridge vlan add dev " + tb + " vid 10", "bridge vlan add dev " + tb + " vid 20",
	}
	if d := cmp.Diff(want, vlans); d != "" {
		t.Errorf("vlans of a new lab (-want +got):\n%s", d)
	}
	if s := script(t, up); !strings.Contains(s, "type bridge vlan_filtering 1") {
		t.Errorf("bridges not VLAN-filtering:\n%s", s)
	}

	for _, tc := range []struct {
		name, to string
		want     []string
	}{
		{"access vlan changed", strings.Replace(vlanLab, "sw1, vlan: 10", "sw1, vlan: 30", 1),
			[]string{"bridge vlan del dev " + a + " vid 10", "bridge vlan add dev " + a + " vid 30 pvid untagged"}},
		{"tagged vlan added", strings.Replace(vlanLab, "sw2, vlans: [10, 20]", "sw2, vlans: [10, 20, 30]", 1),
			[]string{"bridge vlan add dev " + r + " vid 30"}},
		{"tagged vlan removed", strings.Replace(vlanLab, "sw2, vlans: [10, 20]", "sw2, vlans: [20]", 1),
			[]string{"bridge vlan del dev " + r + " vid 10"}},
		{"trunk carries one more", strings.Replace(vlanLab, "link: sw1, vlans: [10, 20]", "link: sw1, vlans: [10, 20, 40]", 1),
			[]string{"bridge vlan add dev " + ta + " vid 40", "bridge vlan add dev " + tb + " vid 40"}},
		{"tap added in vlan 20", strings.Replace(vlanLab, "sw1: {}", "sw1: {taps: {vm: {vlan: 20}}}", 1),
			[]string{
				"ip tuntap add " + TapName("vl", "vm") + " mode tap",
				"ip link set " + TapName("vl", "vm") + " group " + fmt.Sprint(Group("vl")),
				`ip link set ` + TapName("vl", "vm") + ` alias "nslab:vl:tap:vm"`,
				"ip link property add dev " + TapName("vl", "vm") + " altname sw1+vm.vl",
				"ip link set " + TapName("vl", "vm") + " master " + BridgeName("vl", "sw1") + " up",
				"sysctl -qw net.ipv6.conf." + TapName("vl", "vm") + ".disable_ipv6=1",
				"bridge vlan del dev " + TapName("vl", "vm") + " vid 1", "bridge vlan add dev " + TapName("vl", "vm") + " vid 20 pvid untagged",
			}},
		{"host side into vlan 10", strings.Replace(vlanLab, "sw1: {}", "sw1: {vlan: 10}", 1),
			[]string{"bridge vlan del dev " + BridgeName("vl", "sw1") + " vid 1 self", "bridge vlan add dev " + BridgeName("vl", "sw1") + " vid 10 pvid untagged self"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			from := parse(t, vlanLab)
			p, err := Reconcile(from, parse(t, tc.to), running(t, from))
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, l := range strings.Split(script(t, p), "\n") {
				if l != "" && !strings.HasPrefix(l, "#") {
					got = append(got, l)
				}
			}
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("plan (-want +got):\n%s", d)
			}
		})
	}

	// The first VLAN key on a plain bridge: the bridge is made anew, VLAN-filtering.
	plain := strings.NewReplacer(", vlan: 10", "", ", vlans: [10, 20]", "").Replace(vlanLab)
	p, err := Reconcile(parse(t, plain), parse(t, vlanLab), running(t, parse(t, plain)))
	if err != nil {
		t.Fatal(err)
	}
	if s := script(t, p); !strings.Contains(s, "type bridge vlan_filtering 1") || !strings.Contains(s, "vid 10 pvid untagged") {
		t.Errorf("turning VLANs on did not remake the bridges with their VLANs:\n%s", s)
	}
}
