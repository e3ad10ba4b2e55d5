package gen

import (
	"fmt"
	"net/netip"
	"strconv"
)

// Star is a star of hosts h1 … hN on one layer-2 segment. Up to
// HostsPerBridge hosts share bridge br0; more spread over br0, br1 …,
// HostsPerBridge each, and br1 … link to br0 (a hub), so the segment stays
// one.
type Star struct {
	// Nodes is the number of hosts.
	Nodes int
	// Subnet and Subnet6 are the segment's subnets; zero ones take
	// DefaultSubnet and DefaultSubnet6. Each must hold Nodes+1 addresses.
	Subnet, Subnet6 netip.Prefix
	// Host gives the bridge br0 the first address of each subnet, so the
	// host reaches the lab.
	Host bool
}

// HostsPerBridge is how many hosts a generated bridge holds, leaving room
// under the kernel's 1024 ports for trunks.
const HostsPerBridge = 1000

// MaxStarNodes is the largest star: br0 holds HostsPerBridge hosts and a
// trunk to each other bridge, at most topology.MaxBridgePorts ports.
const MaxStarNodes = HostsPerBridge * (1 + 1024 - HostsPerBridge)

// Kind returns "star".
func (Star) Kind() string { return "star" }

func (s Star) size() string { return strconv.Itoa(s.Nodes) }

func (s Star) build(v6 bool) (*lab, error) {
	if err := atLeast("--nodes", s.Nodes, 1); err != nil {
		return nil, err
	}
	if err := atMost("--nodes", s.Nodes, MaxStarNodes, "the hub bridge br0 has no ports left for more trunks; use tree"); err != nil {
		return nil, err
	}
	seg, err := newSegment(s.Subnet, s.Subnet6, v6, s.Host, s.Nodes)
	if err != nil {
		return nil, err
	}
	nb := (s.Nodes + HostsPerBridge - 1) / HostsPerBridge
	l := &lab{bridges: make([]bridge, nb), nodes: make([]node, s.Nodes)}
	for b := range l.bridges {
		l.bridges[b] = bridge{name: "br" + strconv.Itoa(b), link: "br0"}
	}
	l.bridges[0] = bridge{name: "br0", addrs: seg.bridgeAddrs()}
	for i := range l.nodes {
		br := l.bridges[i/HostsPerBridge].name
		l.nodes[i] = host("h"+strconv.Itoa(i+1), br, seg.at(i+1), family[netip.Addr]{})
	}
	l.about = s.describe(nb) + " " + seg.describe("br0")
	return l, nil
}

func (s Star) describe(bridges int) string {
	what := fmt.Sprintf("a star of %d hosts, h1 to h%d, on one layer-2 segment", s.Nodes, s.Nodes)
	if bridges == 1 {
		return what + ", bridge br0."
	}
	return fmt.Sprintf("%s: %d bridges of up to %d hosts, br0 to br%d, where br1 to br%d link to br0 (a Linux bridge holds at most 1024 ports).",
		what, bridges, HostsPerBridge, bridges-1, bridges-1)
}
