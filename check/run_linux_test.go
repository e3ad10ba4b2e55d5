package check

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/nslab/nslab/kernel"
	"github.com/nslab/nslab/topology"
)

// runLab is a -- r -- b, dual-stack, with r routing, plus a bridge br0
// with a host-side address that b plugs into. The model's "host" is a
// test namespace, so nothing touches the real root namespace.
func runLab() *topology.Lab {
	l := newTestLab("chk")
	l.cable(l.ifc("a:eth0", "10.71.1.2/24", "fd71:1::2/64"), l.ifc("r:eth0", "10.71.1.1/24", "fd71:1::1/64"))
	l.cable(l.ifc("b:eth0", "10.71.2.2/24", "fd71:2::2/64"), l.ifc("r:eth1", "10.71.2.1/24", "fd71:2::1/64"))
	l.bridge("br0", "10.71.3.1/24")
	l.port("b:eth1", "br0", "10.71.3.2/24")
	l.router("r")
	l.route("a", "default", "10.71.1.1", "")
	l.route("a", "default", "fd71:1::1", "")
	l.route("b", "default", "10.71.2.1", "")
	l.route("b", "default", "fd71:2::1", "")
	return l.lab
}

// buildRunLab makes runLab real in test namespaces and returns the
// node-to-namespace map, the host included.
func buildRunLab(t *testing.T) map[string]string {
	t.Helper()
	ns := map[string]string{}
	for _, n := range []string{"a", "b", "r", topology.HostNode} {
		ns[n] = newNetns(t, n)
	}
	veth(t, ns["a"], "eth0", ns["r"], "eth0", []string{"10.71.1.2/24", "fd71:1::2/64"}, []string{"10.71.1.1/24", "fd71:1::1/64"})
	veth(t, ns["b"], "eth0", ns["r"], "eth1", []string{"10.71.2.2/24", "fd71:2::2/64"}, []string{"10.71.2.1/24", "fd71:2::1/64"})
	h := ns[topology.HostNode]
	ip(t, "-n", h, "link", "add", "br0", "type", "bridge")
	addAddrs(t, h, "br0", "10.71.3.1/24")
	veth(t, h, "vb", ns["b"], "eth1", nil, []string{"10.71.3.2/24"})
	ip(t, "-n", h, "link", "set", "vb", "master", "br0")
	waitUp(t, h, "br0")
	for _, r := range [][]string{
		{"a", "default", "via", "10.71.1.1"}, {"a", "default", "via", "fd71:1::1"},
		{"b", "default", "via", "10.71.2.1"}, {"b", "default", "via", "fd71:2::1"},
	} {
		ip(t, append([]string{"-n", ns[r[0]], "route", "add"}, r[1:]...)...)
	}
	sysctlIn(t, ns["r"], "net.ipv4.ip_forward", "1")
	sysctlIn(t, ns["r"], "net.ipv6.conf.all.forwarding", "1")
	return ns
}

func TestRun(t *testing.T) {
	needRoot(t)
	ns := buildRunLab(t)
	nsPath := func(node string) string { return kernel.NetnsPath(ns[node]) }
	lab := runLab()
	start := time.Now()
	r, err := Run(context.Background(), lab, nsPath, Options{Timeout: 500 * time.Millisecond})
	elapsed := time.Since(start)
	if err != nil {
		t.Fatalf("Run() error: %v", err)
	}
	var matrix strings.Builder
	r.WriteMatrix(&matrix)
	t.Logf("Run took %v\n%s", elapsed, matrix.String())
	if r.Failed != 0 || r.Passed != len(Expect(lab)) || r.Passed == 0 {
		t.Errorf("Run() passed %d, failed %d, want all %d to pass", r.Passed, r.Failed, len(Expect(lab)))
	}
	want := "from \\ to  a   b   r   host\n" +
		"a          ok  ok  ok  -\n" +
		"b          ok  ok  ok  ok\n" +
		"r          ok  ok  ok  -\n" +
		"host       -   ok  -   ok\n"
	if !strings.HasPrefix(matrix.String(), want) {
		t.Errorf("matrix:\n%s\nwant it to start with:\n%s", matrix.String(), want)
	}
}

// TestRunFailures claims an address the kernel does not have: exactly
// the probes of it fail, within the timeout. The default timeout (1s)
// leaves room for one lost neighbour solicitation on a loaded machine.
func TestRunFailures(t *testing.T) {
	needRoot(t)
	ns := buildRunLab(t)
	nsPath := func(node string) string { return kernel.NetnsPath(ns[node]) }
	lab := runLab()
	b := lab.Node("b").Interface("eth0")
	b.Addresses = append(b.Addresses, netip.MustParsePrefix("10.71.2.99/24"))
	const timeout = DefaultTimeout
	start := time.Now()
	r, err := Run(context.Background(), lab, nsPath, Options{})
	elapsed := time.Since(start)
	if err != nil {
		t.Fatalf("Run() error: %v", err)
	}
	if elapsed > timeout+500*time.Millisecond {
		t.Errorf("Run() took %v with a %v timeout", elapsed, timeout)
	}
	var matrix strings.Builder
	r.WriteMatrix(&matrix)
	t.Logf("Run took %v\n%s", elapsed, matrix.String())
	for _, p := range r.Probes {
		missing := p.To == netip.MustParseAddr("10.71.2.99")
		if p.OK == missing || (missing && p.Err == "") {
			t.Errorf("probe %s -> %s: ok=%v err=%q", p.From, p.To, p.OK, p.Err)
		}
	}
	for _, line := range []string{
		"a -> 10.71.2.99 (b eth0 via r): no reply after 1s\n",
		// b's probe of its own address binds it as the source.
		"b -> 10.71.2.99 (b eth0): sending echo request from 10.71.2.99: network is unreachable\n",
	} {
		if !strings.Contains(matrix.String(), line) {
			t.Errorf("matrix lacks %q:\n%s", line, matrix.String())
		}
	}
}

// TestRunStar probes a 12-node star on a bridge whose host side is a
// test namespace: more sources than workers. It stays small because
// neighbour entries are limited for all namespaces of the machine
// together (gc_thresh3): a full mesh of n nodes needs about n² of them.
func TestRunStar(t *testing.T) {
	needRoot(t)
	if testing.Short() {
		t.Skip("builds 13 namespaces")
	}
	const n = 12
	needNeighbours(t, (n+1)*(n+1))
	l := newTestLab("star")
	l.bridge("br0", "10.72.0.1/24", "fd72::1/64")
	h := newNetns(t, topology.HostNode)
	ns := map[string]string{topology.HostNode: h}
	ip(t, "-n", h, "link", "add", "br0", "type", "bridge")
	addAddrs(t, h, "br0", "10.72.0.1/24", "fd72::1/64")
	for i := range n {
		node := fmt.Sprintf("n%02d", i)
		a4, a6 := fmt.Sprintf("10.72.0.%d/24", 10+i), fmt.Sprintf("fd72::%x/64", 10+i)
		l.port(node+":eth0", "br0", a4, a6)
		ns[node] = newNetns(t, node)
		veth(t, h, "p"+node, ns[node], "eth0", nil, []string{a4, a6})
		ip(t, "-n", h, "link", "set", "p"+node, "master", "br0")
	}
	waitUp(t, h, "br0")
	start := time.Now()
	r, err := Run(context.Background(), l.lab, func(node string) string { return kernel.NetnsPath(ns[node]) }, Options{Workers: 4})
	elapsed := time.Since(start)
	if err != nil {
		t.Fatalf("Run() error: %v", err)
	}
	var out strings.Builder
	r.WriteMatrix(&out)
	t.Logf("%d probes from %d sources in %v\n%s", len(r.Probes), len(r.Nodes), elapsed, out.String())
	if want := 2 * (n + 1) * (n + 1); r.Passed != want || r.Failed != 0 {
		t.Errorf("Run() passed %d, failed %d, want %d passed", r.Passed, r.Failed, want)
	}
	table, _, _ := strings.Cut(out.String(), "\n\n")
	for _, row := range strings.Split(table, "\n")[1:] {
		if cells := strings.Fields(row); len(cells) != n+2 || strings.Count(row, " ok") != n+1 {
			t.Errorf("WriteMatrix() row %q, want %d cells of ok", row, n+1)
		}
	}
}

// TestRunHostPinned: the host's probes only go out of the lab device
// they are pinned to; a missing one fails them without sending.
func TestRunHostPinned(t *testing.T) {
	needRoot(t)
	ns := buildRunLab(t)
	nsPath := func(node string) string { return kernel.NetnsPath(ns[node]) }
	opt := Options{Timeout: 300 * time.Millisecond, HostDev: func(dev string) string { return "x-" + dev }}
	r, err := Run(context.Background(), runLab(), nsPath, opt)
	if err != nil {
		t.Fatalf("Run() error: %v", err)
	}
	for _, p := range r.Probes {
		host := p.From == topology.HostNode
		if p.OK == host || (host && p.Err != "no interface x-br0 to send from") {
			t.Errorf("probe %s -> %s: ok=%v err=%q", p.From, p.To, p.OK, p.Err)
		}
	}
}
