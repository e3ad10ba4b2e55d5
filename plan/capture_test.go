package plan

import (
	"strings"
	"testing"

	"github.com/nslab/nslab/topology"
)

func TestCaptureEnd(t *testing.T) {
	lab, err := topology.Parse("c.yaml", []byte(`name: c
bridges: {br0: {}}
host:
  interfaces:
    up: {link: a:eth1, addresses: [10.9.0.1/30]}
nodes:
  a: {interfaces: {eth0: {link: br0, addresses: [10.0.0.2/24]}, eth1: {addresses: [10.9.0.2/30]}, eth2: {link: b:eth0, addresses: [10.8.0.1/30]}}}
  b: {interfaces: {eth0: {addresses: [10.8.0.2/30]}, lo0: {kind: dummy, addresses: [10.255.0.1/32]}}}
`))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		what     string
		far      bool
		ns, name string
	}{
		{"a:eth0", false, "c.a", "eth0"},
		{"a:eth0", true, "", PortName("c", "a", "eth0")},
		{"a:eth2", true, "c.b", "eth0"},
		{"b:eth0", true, "c.a", "eth2"},
		{"br0", false, "", BridgeName("c", "br0")},
		{"host:up", false, "", HostIfName("c", "up")},
		{"host:up", true, "c.a", "eth1"},
		{"b:lo0", false, "c.b", "lo0"},
	} {
		ns, name, err := CaptureEnd(lab, c.what, c.far)
		if err != nil || ns != c.ns || name != c.name {
			t.Errorf("CaptureEnd(%s, far %v) = %q %q %v, want %q %q", c.what, c.far, ns, name, err, c.ns, c.name)
		}
	}
	for what, want := range map[string]string{"br9": "bridges: br0", "a:eth9": "eth9", "z:eth0": "no node z", "b:lo0": "in no cable"} {
		if _, _, err := CaptureEnd(lab, what, what == "b:lo0"); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", what, err, want)
		}
	}
}
