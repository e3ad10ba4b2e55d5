package kernel_test

import (
	"regexp"
	"strings"
	"testing"

	"github.com/nslab/nslab/kernel"
	"github.com/nslab/nslab/nslabtest"
)

// TestVethOneQueue: both ends of a cable, between two nodes and between
// a node and the root namespace, are made with one transmit and one
// receive queue. Made with the kernel's default (one per possible CPU),
// a veth is cut down to one queue right after it is registered, and that
// waits for an expedited RCU grace period with rtnl_mutex held: 4.1 s of
// a 10,104-node build, every other netlink request of the machine
// waiting with it.
func TestVethOneQueue(t *testing.T) {
	lab, a, b, c := nodesAB(t)
	root := rootLinks(t, c, lab, "nlq")[0]
	apply(t, c,
		&kernel.VethAdd{NS: a, Name: "eth0", PeerNS: b, PeerName: "eth0"},
		&kernel.VethAdd{Name: root, Tags: kernel.Tags{Alias: kernel.Marker(lab, kernel.KindPort, "a:eth1")}, PeerNS: a, PeerName: "eth1"},
	)
	queues := regexp.MustCompile(`numtxqueues (\d+) numrxqueues (\d+)`)
	for _, end := range [][]string{{"-n", a, "eth0"}, {"-n", b, "eth0"}, {"-n", a, "eth1"}, {root}} {
		args := append(append([]string{}, end[:len(end)-1]...), "-d", "link", "show", end[len(end)-1])
		out := nslabtest.IP(t, args...)
		m := queues.FindStringSubmatch(out)
		if m == nil || m[1] != "1" || m[2] != "1" {
			t.Errorf("ip %s: want numtxqueues 1 numrxqueues 1:\n%s", strings.Join(args, " "), out)
		}
	}
}
