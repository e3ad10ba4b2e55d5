package plan

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/nslab/nslab/kernel"
	"github.com/nslab/nslab/topology"
)

// killedLab is a lab with a trunk and a host cable, under the name "k".
func killedLab(t *testing.T) *topology.Lab {
	t.Helper()
	lab, err := topology.Parse("k.yaml", []byte(`name: k
bridges:
  br0: {}
  br1: {link: br0}
nodes:
  n1:
    interfaces:
      eth0: {link: br0}
      eth1: {link: host:up}
  n2:
    interfaces:
      eth0: {link: br1}
host:
  interfaces:
    up: {}
`))
	if err != nil {
		t.Fatal(err)
	}
	return lab
}

// TestDownAfterKill: what an nslab killed part-way leaves, and what of
// it down removes.
func TestDownAfterKill(t *testing.T) {
	lab := killedLab(t)
	g := Group("k")
	st := emptyState()
	st.Stale = map[string]bool{}
	link := func(name, alias string, group uint32) {
		st.Links[name] = &kernel.RootLink{Name: name, Alias: alias, Group: group}
	}
	// Marked and complete.
	link(BridgeName("k", "br0"), kernel.Marker("k", kernel.KindBridge, "br0"), g)
	link(PortName("k", "n1", "eth0"), kernel.Marker("k", kernel.KindPort, "n1:eth0"), g)
	link(TrunkName("k", "br1", "a"), kernel.Marker("k", kernel.KindTrunk, "br1"), g)
	// Killed before the alias: the lab's group and names of its topology.
	link(BridgeName("k", "br1"), "", g)
	link(TrunkName("k", "br1", "b"), "", g)
	link(HostIfName("k", "up"), "", g)
	st.Namespaces["k.n1"] = kernel.Marker("k", kernel.KindNode, "n1")
	// Killed before the bind mount, or after the unmount.
	st.Namespaces["k.n2"] = ""
	st.Stale["k.n2"] = true
	st.Namespaces["k.gone"] = ""
	st.Stale["k.gone"] = true

	got := script(t, Down("k", st, Saved{Topology: lab, StateDir: true}))
	want := fmt.Sprintf(`# bridges down (1)
ip link set %s down group %d

# links (1)
ip link delete group %d   # the lab's 5 links

# bridges (1)
ip link delete group %d   # the lab's 1 links

# namespaces (4)
ip netns delete k.gone
ip netns delete k.n1
ip netns delete k.n2
nft delete table inet nslab-k

# release (1)
# the namespaces above are freed by the kernel together
`, BridgeName("k", "br0"), BridgeGroup("k"), g, BridgeGroup("k"))
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("down after a kill (-want +got):\n%s", d)
	}

	// Without the saved topology, unmarked links are never the lab's, and
	// only the state directory vouches for stale entries.
	got = script(t, Down("k", st, Saved{StateDir: true}))
	for _, name := range []string{BridgeName("k", "br1"), TrunkName("k", "br1", "b"), HostIfName("k", "up")} {
		if strings.Contains(got, name) {
			t.Errorf("down without a saved topology deletes unmarked %s:\n%s", name, got)
		}
	}
	if strings.Contains(got, "group") || !strings.Contains(got, "ip netns delete k.gone") {
		t.Errorf("down without a saved topology:\n%s", got)
	}
	// Without state, a stale entry goes only if the saved topology has
	// the node; with nothing saved, none goes.
	got = script(t, Down("k", st, Saved{Topology: lab}))
	if !strings.Contains(got, "k.n2") || strings.Contains(got, "k.gone") {
		t.Errorf("down with a topology but no state directory:\n%s", got)
	}
	if got := script(t, Down("k", st)); strings.Contains(got, "k.n2") || strings.Contains(got, "k.gone") || strings.Contains(got, "group") {
		t.Errorf("down with nothing saved:\n%s", got)
	}
}

// TestDownAfterKillLeavesForeign: an unmarked link is the lab's only when
// all of it fits: no alias, the lab's group, a name of its topology.
func TestDownAfterKillLeavesForeign(t *testing.T) {
	lab := killedLab(t)
	g := Group("k")
	st := emptyState()
	st.Stale = map[string]bool{}
	link := func(name, alias string, group uint32) {
		st.Links[name] = &kernel.RootLink{Name: name, Alias: alias, Group: group}
	}
	link(PortName("k", "n1", "eth0"), kernel.Marker("k", kernel.KindPort, "n1:eth0"), g)
	link(BridgeName("k", "br0"), "", 0)                            // a name of the lab, no group
	link(BridgeName("k", "br1"), "made by hand", g)                // an alias of its own
	link(HostIfName("k", "other"), "", g)                          // a name the topology does not give
	link(TrunkName("k", "br1", "b"), "", Group("k2"))              // another group
	link("np-close", kernel.Marker("k2", kernel.KindPort, "x"), g) // another lab's mark
	st.Namespaces["k.n2"] = ""                                     // unreadable, but mounted: not stale
	st.Namespaces["k2.n1"] = ""
	st.Stale["k2.n1"] = true // another lab's
	st.Namespaces["kx"] = ""
	st.Stale["kx"] = true // no node name

	got := script(t, Down("k", st, Saved{Topology: lab, StateDir: true}))
	want := fmt.Sprintf("# links (1)\nip link delete %s\n\n# namespaces (1)\nnft delete table inet nslab-k\n", PortName("k", "n1", "eth0"))
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("down touches foreign objects (-want +got):\n%s", d)
	}
}
