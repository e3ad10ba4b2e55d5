package plan

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const overlayLab = `name: ov
bridges: {u: {subnets: [10.0.0.0/24]}}
overlays:
  t: {vni: 10, subnets: [10.1.0.0/24]}
nodes:
  a: {interfaces: {eth0: {link: u}, vx: {link: t, underlay: eth0}}}
  b: {interfaces: {eth0: {link: u}, vx: {link: t, underlay: eth0}}}
  c: {interfaces: {eth0: {link: u}}}
`

// TestReconcileOverlay changes the overlays of a running lab: a member
// that joins gets its device and the others a remote more, in place; a
// member that leaves loses its device and the others that remote; a
// changed VNI remakes the devices; an address changes in place; nodes
// off the overlay are not touched.
func TestReconcileOverlay(t *testing.T) {
	cJoins := strings.Replace(overlayLab, "  c: {interfaces: {eth0: {link: u}}}", "  c: {interfaces: {eth0: {link: u}, vx: {link: t, underlay: eth0}}}", 1)
	for _, tc := range []struct {
		name, from, to string
		want           []string
	}{{
		name: "member joins",
		from: overlayLab,
		to:   cJoins,
		want: []string{
			"bridge -n ov.a fdb append 00:00:00:00:00:00 dev vx dst 10.0.0.4",
			"bridge -n ov.b fdb append 00:00:00:00:00:00 dev vx dst 10.0.0.4",
			"ip -n ov.c link add vx mtu 1450 type vxlan id 10 local 10.0.0.4 dev eth0 dstport 4789",
			"bridge -n ov.c fdb append 00:00:00:00:00:00 dev vx dst 10.0.0.2",
			"bridge -n ov.c fdb append 00:00:00:00:00:00 dev vx dst 10.0.0.3",
			"ip -n ov.c link set vx up",
			"ip -n ov.c addr add 10.1.0.3/24 dev vx",
		},
	}, {
		name: "member leaves",
		from: cJoins,
		to:   overlayLab,
		want: []string{
			"ip -n ov.c link delete vx",
			"bridge -n ov.a fdb del 00:00:00:00:00:00 dev vx dst 10.0.0.4",
			"bridge -n ov.b fdb del 00:00:00:00:00:00 dev vx dst 10.0.0.4",
		},
	}, {
		name: "vni changed",
		from: overlayLab,
		to:   strings.Replace(overlayLab, "vni: 10", "vni: 11", 1),
		want: []string{
			"ip -n ov.a link delete vx",
			"ip -n ov.b link delete vx",
			"ip -n ov.a link add vx mtu 1450 type vxlan id 11 local 10.0.0.2 dev eth0 dstport 4789",
			"bridge -n ov.a fdb append 00:00:00:00:00:00 dev vx dst 10.0.0.3",
			"ip -n ov.b link add vx mtu 1450 type vxlan id 11 local 10.0.0.3 dev eth0 dstport 4789",
			"bridge -n ov.b fdb append 00:00:00:00:00:00 dev vx dst 10.0.0.2",
			"ip -n ov.a link set vx up",
			"ip -n ov.a addr add 10.1.0.1/24 dev vx",
			"ip -n ov.b link set vx up",
			"ip -n ov.b addr add 10.1.0.2/24 dev vx",
		},
	}, {
		name: "address changed in place",
		from: overlayLab,
		to:   strings.Replace(overlayLab, "  b: {interfaces: {eth0: {link: u}, vx: {link: t, underlay: eth0}}}", "  b: {interfaces: {eth0: {link: u}, vx: {link: t, underlay: eth0, addresses: [10.1.0.9/24]}}}", 1),
		want: []string{
			"ip -n ov.b addr del 10.1.0.2/24 dev vx",
			"ip -n ov.b link set vx up",
			"ip -n ov.b addr add 10.1.0.9/24 dev vx",
		},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			from, to := parse(t, tc.from), parse(t, tc.to)
			p, err := Reconcile(from, to, running(t, from))
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
}
