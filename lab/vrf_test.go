package lab_test

import (
	"context"
	"strings"
	"testing"

	"github.com/nslab/nslab/check"
	"github.com/nslab/nslab/lab"
	"github.com/nslab/nslab/nslabtest"
	"github.com/nslab/nslab/plan"
	"github.com/nslab/nslab/topology"
)

// vrfCoreLab is two PE routers that carry two customers, red and blue, in
// vrfs over a core of two cables (one per vrf, on the same /31), with a
// management cable in their main tables, routed by routing: auto. Both
// customers use SUB.0/28 at their first site; pe2's red vrf has a
// loopback address of its own, SUB.100.
const vrfCoreLab = `
routing: auto
nodes:
  pe1:
    router: true
    interfaces:
      red-c: {link: red1:eth0, addresses: [SUB.1/28]}
      blue-c: {link: blue1:eth0, addresses: [SUB.1/28]}
      red-core: {link: pe2:red-core, addresses: [SUB.16/31]}
      blue-core: {link: pe2:blue-core, addresses: [SUB.16/31]}
      mgmt: {link: pe2:mgmt, addresses: [SUB.64/31]}
      red: {kind: vrf, table: 10, members: [red-c, red-core]}
      blue: {kind: vrf, table: 20, members: [blue-c, blue-core]}
  pe2:
    router: true
    interfaces:
      red-core: {addresses: [SUB.17/31]}
      blue-core: {addresses: [SUB.17/31]}
      mgmt: {addresses: [SUB.65/31]}
      red-c: {link: red2:eth0, addresses: [SUB.33/28]}
      blue-c: {link: blue2:eth0, addresses: [SUB.49/28]}
      red: {kind: vrf, table: 10, members: [red-c, red-core], addresses: [SUB.100/32]}
      blue: {kind: vrf, table: 20, members: [blue-c, blue-core]}
  red1: {interfaces: {eth0: {addresses: [SUB.2/28]}}}
  blue1: {interfaces: {eth0: {addresses: [SUB.2/28]}}}
  red2: {interfaces: {eth0: {addresses: [SUB.34/28]}}}
  blue2: {interfaces: {eth0: {addresses: [SUB.50/28]}}}
`

// checkVRFLab runs nslab check on the lab with the faults in force and
// fails on any failed probe; it returns how many probes were sent from
// inside a vrf and how many met a fault.
func checkVRFLab(t *testing.T, tl *topology.Lab, when string) (fromVRF, faulted int) {
	t.Helper()
	rep, err := lab.Check(context.Background(), tl, check.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range rep.Probes {
		if p.Fault == "" && !p.OK || p.Fault != "" && p.OK {
			t.Errorf("%s: %s -> %s (%s on %s): ok %v, fault %q: %s", when, p.From, p.To, p.ToDev, p.ToNode, p.OK, p.Fault, p.Err)
		}
		if strings.Contains(p.From, "@") {
			fromVRF++
		}
	}
	t.Logf("%s: check: %d probes, %d passed, %d failed, %d met faults; %d from inside vrfs", when, len(rep.Probes), rep.Passed, rep.Failed, rep.Faulted, fromVRF)
	return fromVRF, rep.Faulted
}

// TestVRFAutoRouting: routing: auto routes each vrf of the PEs on its
// own, across the core, in the vrf's table: each customer reaches its
// other site (and red pe2's red loopback), never the other customer's,
// though both use the same subnet; nslab check proves every pair from
// every stack, pe1@red and pe2@blue included. Then partitions hold in
// vrfs: pe2 from both first sites (its filter matches what its vrfs
// receive and send), red from blue, which leaves each customer whole
// (before, each site dropped the other customer's copy of its own
// subnet's addresses), and pe1 from red1 alone, which blue1, with red1's
// address, survives (pe1 drops it through vrf red only); a block of
// blue1 to pe1 holds on vrf blue only.
func TestVRFAutoRouting(t *testing.T) {
	needKinds(t, "vrf")
	sub := nslabtest.Subnet(t)
	tl := upNamed(t, "vrf", strings.ReplaceAll(vrfCoreLab, "SUB", sub))
	// check first: it sends a failed probe once more a second later, and
	// under TCG on a loaded host the first packets across two routers may
	// wait on neighbour resolution longer than expectPing's 500ms.
	if n, _ := checkVRFLab(t, tl, "up"); n == 0 {
		t.Errorf("check probed nothing from inside a vrf")
	}
	expectPing(t, tl, "red", "red1", true, sub+".34", sub+".100", sub+".33")
	expectPing(t, tl, "blue", "blue1", true, sub+".50", sub+".49")
	expectPing(t, tl, "red to blue", "red1", false, sub+".50")
	expectPing(t, tl, "blue to red", "blue1", false, sub+".34", sub+".100")
	for node, want := range map[string]string{"pe1": sub + ".32/28 via " + sub + ".17", "pe2": sub + ".0/28 via " + sub + ".16"} {
		out := nslabtest.IP(t, "-n", plan.NetnsName(tl.Name, node), "route", "show", "vrf", "red")
		if !strings.Contains(out, want) {
			t.Errorf("%s's red table lacks %s:\n%s", node, want, out)
		}
		if main := nslabtest.IP(t, "-n", plan.NetnsName(tl.Name, node), "route", "show"); strings.Contains(main, sub+".0/28") && node == "pe2" {
			t.Errorf("pe2's main table routes a vrf's subnet:\n%s", main)
		}
	}

	part := func(groups ...[]string) {
		t.Helper()
		if err := lab.Partition(context.Background(), tl.Name, groups, lab.Options{}); err != nil {
			if strings.Contains(err.Error(), "needs nf_tables") {
				t.Skipf("this kernel has no nf_tables: %v", err)
			}
			t.Fatal(err)
		}
	}
	// pe2 (both vrfs) from the customers' first sites: pe2 drops SUB.2
	// as its red and blue vrfs receive it, and what they send there.
	part([]string{"pe2"}, []string{"red1", "blue1"})
	expectPing(t, tl, "pe2 | red1, blue1", "red1", false, sub+".100", sub+".17")
	expectPing(t, tl, "pe2 | red1, blue1", "red1", true, sub+".34") // through pe2, not to it
	if _, faulted := checkVRFLab(t, tl, "pe2 | red1, blue1"); faulted == 0 {
		t.Errorf("no probe met the partition")
	}
	part([]string{"red1", "red2"}, []string{"blue1", "blue2"})
	expectPing(t, tl, "red | blue", "red1", true, sub+".34", sub+".100")
	expectPing(t, tl, "red | blue", "blue1", true, sub+".50")
	checkVRFLab(t, tl, "red | blue")
	// pe1 from red1 alone: blue1 has red1's address in vrf blue, so pe1
	// drops it through vrf red and its members only.
	part([]string{"pe1"}, []string{"red1"})
	expectPing(t, tl, "pe1 | red1", "red1", false, sub+".1", sub+".16")
	expectPing(t, tl, "pe1 | red1", "blue1", true, sub+".1", sub+".50")
	if _, faulted := checkVRFLab(t, tl, "pe1 | red1"); faulted == 0 {
		t.Errorf("no probe met the partition")
	}
	part()
	// A block of blue1 to pe1 likewise holds on vrf blue only: red1, with
	// blue1's address in vrf red, still reaches pe1.
	if err := lab.Block(context.Background(), tl.Name, plan.Block{From: []string{"blue1"}, To: []string{"pe1"}}, lab.Options{}); err != nil {
		t.Fatal(err)
	}
	expectPing(t, tl, "block blue1 -> pe1", "blue1", false, sub+".1")
	expectPing(t, tl, "block blue1 -> pe1", "red1", true, sub+".1", sub+".34")
	if _, faulted := checkVRFLab(t, tl, "block blue1 -> pe1"); faulted == 0 {
		t.Errorf("no probe met the block")
	}
	if _, err := lab.Heal(context.Background(), tl.Name, lab.Options{}); err != nil {
		t.Fatal(err)
	}
	checkVRFLab(t, tl, "healed")
}
