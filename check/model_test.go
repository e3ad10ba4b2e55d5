package check

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/nslab/nslab/topology"
)

// randomLab builds a small lab of random bridges, cables, addresses
// from a small pool (so that subnets overlap and addresses repeat),
// routes (some the kernel would refuse), routers and sysctls.
func randomLab(seed uint64) *topology.Lab {
	r := rand.New(rand.NewPCG(seed, 1))
	l := newTestLab(fmt.Sprintf("rnd%d", seed))
	addr := func() string {
		if r.IntN(3) == 0 {
			return fmt.Sprintf("fd7%d::%d/64", r.IntN(3), 1+r.IntN(6))
		}
		return fmt.Sprintf("10.9.%d.%d/%d", r.IntN(3), 1+r.IntN(6), []int{24, 24, 16, 31}[r.IntN(4)])
	}
	addrs := func() []string {
		var out []string
		for range r.IntN(3) + 1 {
			out = append(out, addr())
		}
		if r.IntN(8) == 0 {
			out = append(out, "fe80::1/64")
		}
		return out
	}
	nBr := r.IntN(3)
	for b := range nBr {
		var host []string
		if r.IntN(2) == 0 {
			host = addrs()
		}
		l.bridge(fmt.Sprintf("br%d", b), host...)
	}
	nodes := 2 + r.IntN(6)
	name := func(i int) string { return fmt.Sprintf("n%d", i) }
	dev := map[string]int{}
	ifc := func(node string) string {
		dev[node]++
		return fmt.Sprintf("%s:eth%d", node, dev[node]-1)
	}
	for i := range nodes {
		n := name(i)
		if nBr > 0 {
			l.port(ifc(n), fmt.Sprintf("br%d", r.IntN(nBr)), addrs()...)
		} else {
			l.ifc(ifc(n), addrs()...)
		}
	}
	for range r.IntN(5) {
		a, b := name(r.IntN(nodes)), name(r.IntN(nodes))
		if r.IntN(4) == 0 {
			b = topology.HostNode
		}
		if a == b {
			continue
		}
		l.cable(l.ifc(ifc(a), addrs()...), l.ifc(ifc(b), addrs()...))
	}
	for i := range nodes {
		n := name(i)
		if r.IntN(3) == 0 {
			l.router(n)
		}
		for range r.IntN(4) {
			to, via := []string{"default", "10.9.0.0/16", "10.9.1.0/24", "fd71::/64"}[r.IntN(4)], ""
			p := netip.MustParsePrefix(addr())
			if to == "fd71::/64" || (to == "default" && p.Addr().Is6()) {
				p = netip.MustParsePrefix(fmt.Sprintf("fd7%d::%d/64", r.IntN(3), 1+r.IntN(6)))
			} else {
				p = netip.MustParsePrefix(fmt.Sprintf("10.9.%d.%d/24", r.IntN(3), 1+r.IntN(6)))
			}
			via = p.Addr().String()
			d := ""
			if r.IntN(4) == 0 {
				d = fmt.Sprintf("eth%d", r.IntN(dev[n]))
				if r.IntN(2) == 0 {
					via = ""
				}
			}
			if via == "" && to == "default" {
				to = "0.0.0.0/0"
			}
			l.route(n, to, via, d)
			if r.IntN(3) == 0 {
				rt := &l.node(n).Routes[len(l.node(n).Routes)-1]
				rt.Metric = r.IntN(3) * 10
			}
		}
		for range r.IntN(3) {
			kv := [][2]string{
				{"net.ipv4.ip_forward", "1"}, {"net.ipv6.conf.all.forwarding", "1"},
				{"net.ipv4.conf.all.rp_filter", "1"}, {"net.ipv4.conf.eth0.rp_filter", "2"},
				{"net.ipv4.icmp_echo_ignore_all", "1"}, {"net.ipv6.conf.eth1.disable_ipv6", "1"},
			}[r.IntN(6)]
			l.sysctl(n, kv[0], kv[1])
		}
	}
	return l.lab
}

var probeCmp = cmp.Options{cmpopts.EquateComparable(netip.Addr{}), cmpopts.EquateEmpty()}

// TestExpectMatchesOracle checks the indexed model against the plain
// one it replaced, on the labs of TestExpect and on random labs.
func TestExpectMatchesOracle(t *testing.T) {
	labs := []*topology.Lab{starLab(), routedLab("router"), routedLab("v4only"), routedLab("noreturn"),
		p2pLab(), loopLab(), hostLab(), sourceLab(), rpFilterLab("1"), rpFilterLab("2"), runLab()}
	for seed := range uint64(500) {
		labs = append(labs, randomLab(seed))
	}
	expected := 0
	for _, lab := range labs {
		want, got := oldExpect(lab), Expect(lab)
		if diff := cmp.Diff(want, got, probeCmp); diff != "" {
			t.Fatalf("lab %s: Expect() differs from the oracle (-want +got):\n%s", lab.Name, diff)
		}
		expected += len(got)
	}
	t.Logf("%d labs, %d probes", len(labs), expected)
}
