package lab_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/google/nftables"
	"github.com/nslab/nslab/check"
	"github.com/nslab/nslab/kernel"
	"github.com/nslab/nslab/lab"
	"github.com/nslab/nslab/nslabtest"
	"github.com/nslab/nslab/plan"
	"github.com/nslab/nslab/topology"
)

// driftLab is a router r between a bridge and a cable to h, which routes
// through r; n is on the bridge too. r has a sysctl of the file.
func driftLab(t *testing.T) *topology.Lab {
	sub := nslabtest.Subnet(t)
	v6 := "fd10:" + strings.ReplaceAll(strings.TrimPrefix(sub, "10."), ".", ":")
	return up(t, strings.NewReplacer("SUB", sub, "V6", v6).Replace(`
bridges:
  br0: {addresses: [SUB.1/25, "V6::1/64"]}
nodes:
  r:
    router: true
    sysctls: {net.ipv4.ip_default_ttl: 33}
    interfaces:
      eth0: {link: br0, addresses: [SUB.2/25, "V6::2/64"]}
      eth1: {link: h:eth0, mtu: 1400, addresses: [SUB.129/30, "V6:1::1/64"]}
  h:
    routes:
      - {to: SUB.0/25, via: SUB.129}
      - {to: "V6::/64", via: "V6:1::1"}
    interfaces:
      eth0: {addresses: [SUB.130/30, "V6:1::2/64"]}
  n:
    interfaces:
      eth0: {link: br0, addresses: [SUB.3/25, "V6::3/64"]}
`))
}

// checkPasses runs nslab check on the lab: every probe must pass.
func checkPasses(t *testing.T, tl *topology.Lab, when string) {
	t.Helper()
	rep, err := lab.Check(context.Background(), tl, check.Options{})
	if err != nil || rep.Failed > 0 || rep.Passed == 0 {
		t.Errorf("%s: check: %v, %d passed, %d failed", when, err, rep.Passed, rep.Failed)
	}
}

// TestRepairDrift changes a running lab by hand in every way nslab
// knows, one at a time: up puts back the root namespace's side, up
// --repair the nodes'; check passes after each. A route and an address
// that someone else added stay.
func TestRepairDrift(t *testing.T) {
	tl := driftLab(t)
	name := tl.Name
	ns := func(node string) string { return plan.NetnsName(name, node) }
	br := plan.BridgeName(name, "br0")
	sub := strings.TrimSuffix(tl.Bridge("br0").Addresses[0].Addr().String(), ".1")
	v6 := strings.TrimSuffix(tl.Bridge("br0").Addresses[1].Addr().String(), "::1")
	checkPasses(t, tl, "before")
	foreign := sub + ".200/32"
	nslabtest.IP(t, "-n", ns("h"), "route", "add", foreign, "dev", "eth0", "proto", "static")

	for _, c := range []struct {
		name   string
		repair bool // only up --repair puts it back
		break_ []string
		want   func() bool
	}{
		{"address removed", true, []string{"-n", ns("r"), "addr", "del", sub + ".2/25", "dev", "eth0"},
			func() bool {
				return strings.Contains(nslabtest.IP(t, "-n", ns("r"), "addr", "show", "eth0"), sub+".2/25")
			}},
		{"address changed", true, []string{"-n", ns("n"), "addr", "del", v6 + "::3/64", "dev", "eth0"},
			func() bool {
				return strings.Contains(nslabtest.IP(t, "-n", ns("n"), "addr", "show", "eth0"), v6+"::3/64")
			}},
		{"nslab route deleted", true, []string{"-n", ns("h"), "route", "del", sub + ".0/25"},
			func() bool {
				return strings.Contains(nslabtest.IP(t, "-n", ns("h"), "route", "show", sub+".0/25"), "proto 78")
			}},
		{"sysctl changed", true, []string{"netns", "exec", ns("r"), "sh", "-c", "echo 0 > /proc/sys/net/ipv4/ip_forward"},
			func() bool { return sysctl(t, ns("r"), "net/ipv4/ip_forward") == "1" }},
		{"node link down", true, []string{"-n", ns("r"), "link", "set", "eth1", "down"},
			func() bool { return strings.Contains(nslabtest.IP(t, "-n", ns("r"), "link", "show", "eth1"), ",UP") }},
		{"MTU changed", true, []string{"-n", ns("h"), "link", "set", "eth0", "mtu", "1300"},
			func() bool {
				return strings.Contains(nslabtest.IP(t, "-n", ns("h"), "link", "show", "eth0"), "mtu 1400")
			}},
		{"bridge down", false, []string{"link", "set", br, "down"},
			func() bool { return strings.Contains(nslabtest.IP(t, "link", "show", br), ",UP") }},
		{"bridge address removed", false, []string{"addr", "del", sub + ".1/25", "dev", br},
			func() bool { return strings.Contains(nslabtest.IP(t, "addr", "show", br), sub+".1/25") }},
		// Before: neither up nor up --repair saw it, and n was cut off.
		{"bridge port detached", false, []string{"link", "set", plan.PortName(name, "n", "eth0"), "nomaster"},
			func() bool {
				return strings.Contains(nslabtest.IP(t, "link", "show", plan.PortName(name, "n", "eth0")), "master "+br)
			}},
	} {
		nslabtest.IP(t, c.break_...)
		if !c.repair {
			upOpt(t, tl, lab.Options{})
		} else {
			upOpt(t, tl, lab.Options{})
			if c.want() {
				t.Logf("%s: put back by up without --repair", c.name)
			}
			upOpt(t, tl, lab.Options{Repair: true})
		}
		if !c.want() {
			t.Errorf("%s: not put back", c.name)
		}
		checkPasses(t, tl, c.name)
	}
	if got := nslabtest.IP(t, "-n", ns("h"), "route", "show", foreign); !strings.Contains(got, "proto static") {
		t.Errorf("the foreign route of h went: %q", got)
	}
	if p := repairPlan(t, tl); !p.Empty() {
		t.Errorf("after the repairs, a repair still plans:\n%s", script(t, p))
	}
}

// TestRepairFirewall deletes the lab's nftables table, then one of its
// rules: up writes it again.
func TestRepairFirewall(t *testing.T) {
	tl := driftLab(t)
	if ok, _ := kernel.NftTables(); !ok[tl.Name] {
		t.Skip("this kernel has no nf_tables")
	}
	seen := func() bool {
		s, _, err := kernel.ObserveFirewall(tl.Name)
		if err != nil {
			t.Fatal(err)
		}
		return s.Present && len(s.Rules["input"]) > 1
	}
	if !seen() {
		t.Fatal("the lab's table lacks its input rules after up")
	}
	c, err := nftables.New()
	if err != nil {
		t.Fatal(err)
	}
	table := &nftables.Table{Name: kernel.TableName(tl.Name), Family: nftables.TableFamilyINet}
	c.DelTable(table)
	if err := c.Flush(); err != nil {
		t.Fatal(err)
	}
	upOpt(t, tl, lab.Options{})
	if !seen() {
		t.Fatal("up did not write the deleted table again")
	}
	rules, err := c.GetRules(table, &nftables.Chain{Name: "input", Table: table})
	if err != nil || len(rules) == 0 {
		t.Fatalf("listing the input rules: %v", err)
	}
	n := len(rules)
	if err := c.DelRule(rules[len(rules)-1]); err != nil {
		t.Fatal(err)
	}
	if err := c.Flush(); err != nil {
		t.Fatal(err)
	}
	upOpt(t, tl, lab.Options{})
	if rules, _ := c.GetRules(table, &nftables.Chain{Name: "input", Table: table}); len(rules) != n {
		t.Errorf("after up, the input chain has %d rules, want %d", len(rules), n)
	}
	checkPasses(t, tl, "table written again")
}

// TestRepairKeepsFaults: a cut cable and a partition in force survive
// up --repair.
func TestRepairKeepsFaults(t *testing.T) {
	tl := driftLab(t)
	sub := strings.TrimSuffix(tl.Bridge("br0").Addresses[0].Addr().String(), ".1")
	if err := lab.Cut(context.Background(), tl.Name, "h", "eth0", false, lab.Options{}); err != nil {
		t.Fatal(err)
	}
	if err := lab.Cut(context.Background(), tl.Name, "n", "eth0", false, lab.Options{}); err != nil {
		t.Fatal(err)
	}
	if err := lab.Partition(context.Background(), tl.Name, [][]string{{"r"}, {"n"}}, lab.Options{}); err != nil {
		if strings.Contains(err.Error(), "needs nf_tables") {
			t.Skipf("this kernel has no nf_tables: %v", err)
		}
		t.Fatal(err)
	}
	upOpt(t, tl, lab.Options{Repair: true})
	expectPing(t, tl, "cut, after repair", "h", false, sub+".129")
	expectPing(t, tl, "port cut, after repair", "n", false, sub+".1")
	if p := repairPlan(t, tl); !p.Empty() {
		t.Errorf("with faults in force, a repair plans:\n%s", script(t, p))
	}
	if err := lab.Cut(context.Background(), tl.Name, "n", "eth0", true, lab.Options{}); err != nil {
		t.Fatal(err)
	}
	expectPing(t, tl, "partitioned, after repair", "n", false, sub+".2")
	expectPing(t, tl, "partitioned, after repair", "n", true, sub+".1")
	if err := lab.Cut(context.Background(), tl.Name, "h", "eth0", true, lab.Options{}); err != nil {
		t.Fatal(err)
	}
	expectPing(t, tl, "joined", "h", true, sub+".129", sub+".2")
}

// TestUpRefusesAdoptedNamespace: a node's namespace deleted and made
// again by someone else (ip netns add) is a clash for the next up, which
// changes nothing.
func TestUpRefusesAdoptedNamespace(t *testing.T) {
	tl := up(t, seed(t))
	ns := plan.NetnsName(tl.Name, "ns2")
	nslabtest.IP(t, "netns", "del", ns)
	nslabtest.IP(t, "netns", "add", ns)
	t.Cleanup(func() { kernel.DeleteNetns(ns) })
	// The kernel frees the old namespace, and the cable with it, in the
	// background.
	port := plan.PortName(tl.Name, "ns2", "eth0")
	for i := 0; i < 200 && exec.Command("ip", "link", "show", port).Run() == nil; i++ {
		time.Sleep(10 * time.Millisecond)
	}
	err := lab.Up(context.Background(), tl, sources[tl], lab.Options{})
	if err == nil || !strings.Contains(err.Error(), ns) {
		t.Fatalf("up over a namespace made by ip netns add: %v, want a clash naming %s", err, ns)
	}
	if got := nslabtest.IP(t, "-n", ns, "-o", "link"); strings.Contains(got, "eth0") {
		t.Errorf("the foreign namespace was wired: %s", got)
	}
	if err := lab.Up(context.Background(), tl, sources[tl], lab.Options{Repair: true}); err == nil {
		t.Error("up --repair over a foreign namespace: no error")
	}
}

func upOpt(t *testing.T, tl *topology.Lab, opt lab.Options) {
	t.Helper()
	if err := lab.Up(context.Background(), tl, sources[tl], opt); err != nil {
		t.Fatalf("up (repair %v): %v", opt.Repair, err)
	}
}

// repairPlan is what up --repair would do now.
func repairPlan(t *testing.T, tl *topology.Lab) *plan.Plan {
	t.Helper()
	p, _, err := lab.RepairPlan(tl, sources[tl])
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func script(t *testing.T, p *plan.Plan) string {
	var b strings.Builder
	p.WriteScript(&b)
	return b.String()
}

func sysctl(t *testing.T, ns, path string) string {
	t.Helper()
	out := nslabtest.IP(t, "netns", "exec", ns, "cat", "/proc/sys/"+path)
	return strings.TrimSpace(out)
}

// TestStatusShowsDrift: status lists, by node and bridge, what up
// --repair would put back, and nothing once it has.
func TestStatusShowsDrift(t *testing.T) {
	tl := driftLab(t)
	br := plan.BridgeName(tl.Name, "br0")
	nslabtest.IP(t, "-n", plan.NetnsName(tl.Name, "h"), "link", "set", "eth0", "mtu", "1300")
	nslabtest.IP(t, "link", "set", br, "down")
	s, err := lab.GetStatus(tl.Name)
	if err != nil {
		t.Fatal(err)
	}
	drift := map[string]string{}
	for _, n := range s.Nodes {
		drift[n.Name] = strings.Join(n.Drift, "\n")
	}
	drift["br0"] = strings.Join(s.Bridges[0].Drift, "\n")
	if !strings.Contains(drift["h"], "link set eth0 mtu 1400") || drift["r"] != "" || drift["n"] != "" {
		t.Errorf("nodes' drift: %q", drift)
	}
	if !strings.Contains(drift["br0"], "link set "+br+" up") {
		t.Errorf("br0's drift: %q", drift["br0"])
	}
	upOpt(t, tl, lab.Options{Repair: true})
	if s, err = lab.GetStatus(tl.Name); err != nil {
		t.Fatal(err)
	}
	for _, n := range s.Nodes {
		if len(n.Drift) > 0 {
			t.Errorf("%s after the repair: drift %q", n.Name, n.Drift)
		}
	}
	if len(s.Bridges[0].Drift)+len(s.Drift) > 0 {
		t.Errorf("after the repair: drift %q, %q", s.Bridges[0].Drift, s.Drift)
	}
}

// TestStatusFirewallDriftIsTheLabs: the lab's nftables table deleted by
// hand is drift of the lab, not of a bridge its script names (status
// showed "bridge br0 ... drift (30)", the script's lines, before).
func TestStatusFirewallDriftIsTheLabs(t *testing.T) {
	tl := driftLab(t)
	if ok, _ := kernel.NftTables(); !ok[tl.Name] {
		t.Skip("this kernel has no nf_tables")
	}
	c, err := nftables.New()
	if err != nil {
		t.Fatal(err)
	}
	c.DelTable(&nftables.Table{Name: kernel.TableName(tl.Name), Family: nftables.TableFamilyINet})
	if err := c.Flush(); err != nil {
		t.Fatal(err)
	}
	s, err := lab.GetStatus(tl.Name)
	if err != nil {
		t.Fatal(err)
	}
	if d := s.Bridges[0].Drift; len(d) > 0 {
		t.Errorf("br0's drift: %q", d)
	}
	if !strings.Contains(strings.Join(s.Drift, "\n"), "table inet "+kernel.TableName(tl.Name)) {
		t.Errorf("the lab's drift lacks its table: %q", s.Drift)
	}
	upOpt(t, tl, lab.Options{})
}

// TestRepairRemovesScopeLinkRoute: a route of nslab's protocol that the
// file lacks goes, whatever its scope: one made by ip route add dev (scope
// link) stayed, as the kernel matches the scope a delete request gives.
func TestRepairRemovesScopeLinkRoute(t *testing.T) {
	tl := up(t, seed(t))
	ns2 := plan.NetnsName(tl.Name, "ns2")
	const other = "192.0.2.0/24" // a route inside the node only
	nslabtest.IP(t, "-n", ns2, "route", "add", other, "dev", "eth0", "proto", "78")
	upOpt(t, tl, lab.Options{Repair: true})
	if got := nslabtest.IP(t, "-n", ns2, "route", "show", other); got != "" {
		t.Errorf("a route of protocol 78 that the file lacks stayed: %q", got)
	}
	if p := repairPlan(t, tl); !p.Empty() {
		t.Errorf("a repair still plans:\n%s", script(t, p))
	}
}

// TestRepairHostSettings: a host setting nslab makes for the lab's own
// bridge (forwarding, for nat) that is changed by hand is put back by up.
func TestRepairHostSettings(t *testing.T) {
	tl, _ := gatewayLab(t, ", nat: true", "")
	path := "/proc/sys/net/ipv4/conf/" + plan.BridgeName(tl.Name, "lan") + "/forwarding"
	read := func() string {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(string(b))
	}
	if read() != "1" {
		t.Fatalf("%s is %s after up", path, read())
	}
	if err := os.WriteFile(path, []byte("0"), 0o644); err != nil {
		t.Fatal(err)
	}
	upOpt(t, tl, lab.Options{})
	if read() != "1" {
		t.Errorf("%s is %s after up, want 1", path, read())
	}
}

// TestUpRefusesNamespaceMountedOverNode: a foreign namespace bind-mounted
// at a running node's name, while the node's own lives on (a process
// holds it, and its cable with it), is a clash for a plain up too: up
// compares each node's namespace with the one it left there. Before, up
// said "nothing to change" (only up --repair saw it), while check failed
// for the node and nslab exec ran in the foreign namespace.
func TestUpRefusesNamespaceMountedOverNode(t *testing.T) {
	tl := up(t, seed(t))
	ns := plan.NetnsName(tl.Name, "ns2")
	holder := exec.Command("ip", "netns", "exec", ns, "sleep", "600")
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	foreign := nslabtest.Name("foreign")
	nslabtest.IP(t, "netns", "add", foreign)
	t.Cleanup(func() {
		// ns2's own namespace goes back at its name, for down.
		exec.Command("umount", kernel.NetnsPath(ns)).Run()
		if out, err := exec.Command("mount", "--bind", fmt.Sprintf("/proc/%d/ns/net", holder.Process.Pid), kernel.NetnsPath(ns)).CombinedOutput(); err != nil {
			t.Errorf("putting ns2 back: %v %s", err, out)
		}
		holder.Process.Kill()
		holder.Wait()
		kernel.DeleteNetns(foreign)
	})
	for _, args := range [][]string{{"umount", kernel.NetnsPath(ns)}, {"mount", "--bind", kernel.NetnsPath(foreign), kernel.NetnsPath(ns)}} {
		if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%v: %v %s", args, err, out)
		}
	}
	err := lab.Up(context.Background(), tl, sources[tl], lab.Options{})
	if err == nil || !strings.Contains(err.Error(), ns) {
		t.Fatalf("up with a foreign namespace at ns2's name: %v, want a clash naming %s", err, ns)
	}
	if got := nslabtest.IP(t, "-n", foreign, "-o", "link"); strings.Contains(got, "eth0") {
		t.Errorf("the foreign namespace was wired: %s", got)
	}
}
