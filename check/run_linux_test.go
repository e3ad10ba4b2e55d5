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
	// The failed probes are sent once more, a second after the others.
	if elapsed > 2*timeout+time.Second+500*time.Millisecond {
		t.Errorf("Run() took %v with a %v timeout and one retry", elapsed, timeout)
	}
	if r.Retried != 3 {
		t.Errorf("Run() retried %d probes, want the 3 that failed", r.Retried)
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

// TestRunSampled probes a sample of runLab's pairs: exactly those
// ExpectSample draws, all passing, and the matrix marks the others.
func TestRunSampled(t *testing.T) {
	needRoot(t)
	ns := buildRunLab(t)
	nsPath := func(node string) string { return kernel.NetnsPath(ns[node]) }
	lab := runLab()
	r, err := Run(context.Background(), lab, nsPath, Options{Sample: 4, Seed: 7, Timeout: 500 * time.Millisecond})
	if err != nil {
		t.Fatalf("Run() error: %v", err)
	}
	var matrix strings.Builder
	r.WriteMatrix(&matrix)
	t.Logf("\n%s", matrix.String())
	want, info := ExpectSample(lab, 4, 7)
	if r.Mode != ModeSampled || r.Sample == nil || *r.Sample != info || info.Pairs != 4 {
		t.Fatalf("Run() mode %q sample %+v, want sampled %+v", r.Mode, r.Sample, info)
	}
	if len(r.Probes) != len(want) || r.Failed != 0 || r.Passed != len(want) {
		t.Errorf("Run() passed %d, failed %d, want the %d sampled probes to pass", r.Passed, r.Failed, len(want))
	}
	for i, p := range r.Probes {
		if i < len(want) && (p.From != want[i].From || p.To != want[i].To) {
			t.Errorf("probe %d: %s -> %s, want %s -> %s", i, p.From, p.To, want[i].From, want[i].To)
		}
	}
	if !strings.Contains(matrix.String(), "sampled 4 of 12 pairs (seed 7), ") || strings.Count(matrix.String(), ".") < 8 {
		t.Errorf("matrix does not show the sample:\n%s", matrix.String())
	}
}

// TestRunWaves gives Run a tiny neighbour budget: it probes in many
// waves, waiting between them, and everything still passes.
func TestRunWaves(t *testing.T) {
	needRoot(t)
	ns := buildRunLab(t)
	nsPath := func(node string) string { return kernel.NetnsPath(ns[node]) }
	lab := runLab()
	lim := &neighLimits{thresh3: [2]int{8, 8}, hold: 100 * time.Millisecond}
	start := time.Now()
	r, err := Run(context.Background(), lab, nsPath, Options{Timeout: 500 * time.Millisecond, limits: lim})
	elapsed := time.Since(start)
	if err != nil {
		t.Fatalf("Run() error: %v", err)
	}
	t.Logf("%d probes in %d waves in %v", len(r.Probes), r.Waves, elapsed)
	if r.Mode != ModeFull || r.Waves < 3 || r.Failed != 0 || r.Passed != len(Expect(lab)) {
		t.Errorf("Run() mode %q, %d waves, passed %d, failed %d; want all %d passing in several waves",
			r.Mode, r.Waves, r.Passed, r.Failed, len(Expect(lab)))
	}
}

// TestRunAutoSampled: a star of more than MatrixMax nodes whose full
// mesh would not fit the (here shrunk) neighbour table is sampled by
// itself, and the report says why.
func TestRunAutoSampled(t *testing.T) {
	needRoot(t)
	if testing.Short() {
		t.Skip("builds 23 namespaces")
	}
	const n = 22
	l := newTestLab("auto")
	l.bridge("br0", "10.74.0.1/24")
	h := newNetns(t, topology.HostNode)
	ns := map[string]string{topology.HostNode: h}
	ip(t, "-n", h, "link", "add", "br0", "type", "bridge")
	addAddrs(t, h, "br0", "10.74.0.1/24")
	for i := range n {
		node := fmt.Sprintf("n%02d", i)
		a4 := fmt.Sprintf("10.74.0.%d/24", 10+i)
		l.port(node+":eth0", "br0", a4)
		ns[node] = newNetns(t, node)
		veth(t, h, "p"+node, ns[node], "eth0", nil, []string{a4})
		ip(t, "-n", h, "link", "set", "p"+node, "master", "br0")
	}
	waitUp(t, h, "br0")
	opt := Options{Workers: 4, Seed: 3, autoSample: 30, limits: &neighLimits{thresh3: [2]int{128, 128}, hold: neighHold}}
	r, err := Run(context.Background(), l.lab, func(node string) string { return kernel.NetnsPath(ns[node]) }, opt)
	if err != nil {
		t.Fatalf("Run() error: %v", err)
	}
	var out strings.Builder
	r.WriteMatrix(&out)
	t.Logf("\n%s", out.String())
	if r.Mode != ModeSampled || r.Sample == nil || !r.Sample.Auto || r.Sample.Pairs != 30 || r.Sample.Of != (n+1)*n {
		t.Fatalf("Run() mode %q sample %+v, want 30 pairs sampled by itself", r.Mode, r.Sample)
	}
	if r.Failed != 0 || r.Passed != len(r.Probes) || r.Passed < 30 {
		t.Errorf("Run() passed %d, failed %d of %d", r.Passed, r.Failed, len(r.Probes))
	}
	for _, want := range []string{"auto: sampled 30 of 506 pairs (seed 3), ", "sampled because probing all pairs needs about 506 IPv4 neighbour entries", "gc_thresh3=128"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("summary lacks %q", want)
		}
	}
}
