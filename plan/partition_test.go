package plan

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/nslab/nslab/kernel"
	"github.com/nslab/nslab/topology"
)

// vrfLab is a PE router with two customers in two vrfs, red and blue,
// that use the same addresses on their first site, and a node on the
// main table (mgmt).
const vrfLab = `name: v
routing: auto
nodes:
  pe:
    router: true
    interfaces:
      red-a: {link: red1:eth0, addresses: [10.81.1.1/24]}
      red-b: {link: red2:eth0, addresses: [10.81.2.1/24]}
      blue-a: {link: blue1:eth0, addresses: [10.81.1.1/24]}
      blue-b: {link: blue2:eth0, addresses: [10.81.3.1/24]}
      m: {link: mgmt:eth0, addresses: [10.99.0.1/24]}
      red: {kind: vrf, table: 10, members: [red-a, red-b]}
      blue: {kind: vrf, table: 20, members: [blue-a, blue-b]}
  red1: {interfaces: {eth0: {addresses: [10.81.1.2/24]}}}
  red2: {interfaces: {eth0: {addresses: [10.81.2.2/24]}}}
  blue1: {interfaces: {eth0: {addresses: [10.81.1.2/24]}}}
  blue2: {interfaces: {eth0: {addresses: [10.81.3.2/24]}}}
  mgmt: {interfaces: {eth0: {addresses: [10.99.0.2/24]}}}
`

// filterPlan renders what each node's filter drops.
func filterPlan(t *testing.T, lab *topology.Lab, groups [][]string, blocks []Block) (map[string]string, error) {
	t.Helper()
	p, err := Filters(lab, groups, blocks)
	if err != nil {
		return nil, err
	}
	got := map[string]string{}
	for _, st := range p.Stages {
		for _, op := range st.Ops {
			o := op.(*kernel.Partition)
			var parts []string
			for _, a := range o.Drop {
				parts = append(parts, a.String())
			}
			for _, b := range o.Block {
				for _, a := range b.From {
					parts = append(parts, "in "+a.String())
				}
			}
			if len(parts) > 0 {
				_, node, _ := SplitNetnsName(o.NS)
				got[node] = strings.Join(parts, " ")
			}
		}
	}
	return got, nil
}

// TestPartitionVRF: a node's filter drops the other side's addresses in
// the realms the node is in only: red2 keeps what red1 sends, though
// blue1, on the other side, has red1's address in blue (before, red2
// dropped 10.81.1.2 and red1 could not reach it: the partition of the
// customers cut red in two).
func TestPartitionVRF(t *testing.T) {
	lab, err := topology.Parse("v.yaml", []byte(vrfLab))
	if err != nil {
		t.Fatal(err)
	}
	got, err := filterPlan(t, lab, [][]string{{"red1", "red2"}, {"blue1", "blue2"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	// The two customers never reach each other: nothing to drop.
	if d := cmp.Diff(map[string]string{}, got); d != "" {
		t.Errorf("filters (-want +got):\n%s", d)
	}
	got, err = filterPlan(t, lab, [][]string{{"red2", "mgmt"}, {"pe", "blue2"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	// blue2 drops nothing: nothing of red2 or mgmt is in blue.
	want := map[string]string{
		"red2": "10.81.1.1 10.81.2.1", // pe's addresses in red, not mgmt's
		"mgmt": "10.99.0.1",           // pe's in the main table
		"pe":   "10.81.2.2 10.99.0.2", // red2 in red, mgmt in main
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("filters (-want +got):\n%s", d)
	}
}

// TestPartitionVRFAmbiguous: pe parted from red1 while blue1, with
// red1's address in vrf blue, still reaches it: pe's filter drops that
// address only through vrf red and its members (before, through all its
// interfaces: blue1 lost pe too). A block of blue1 to pe likewise holds
// on vrf blue only (it was refused).
func TestPartitionVRFAmbiguous(t *testing.T) {
	lab, err := topology.Parse("v.yaml", []byte(vrfLab))
	if err != nil {
		t.Fatal(err)
	}
	p, err := Partition(lab, [][]string{{"pe"}, {"red1"}})
	if err != nil {
		t.Fatal(err)
	}
	var pe string
	for _, st := range p.Stages {
		for _, op := range st.Ops {
			if o := op.(*kernel.Partition); strings.HasSuffix(o.NS, ".pe") {
				pe = o.String()
			}
		}
	}
	for _, want := range []string{
		"set drop4 { type ipv4_addr; }\n",
		`    iifname { "red", "red-a", "red-b" } ip saddr 10.81.1.2 drop` + "\n",
		`    oifname { "red", "red-a", "red-b" } ip daddr 10.81.1.2 drop` + "\n",
	} {
		if !strings.Contains(pe, want) {
			t.Errorf("pe's filter lacks %q:\n%s", want, pe)
		}
	}
	got, err := filterPlan(t, lab, [][]string{{"pe"}, {"red1"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]string{"red1": "10.81.1.1 10.81.2.1"}; !cmp.Equal(want, got) {
		t.Errorf("filters: %v, want %v (and pe's scoped)", got, want)
	}
	// A block likewise: pe drops what blue1 sends through vrf blue only.
	p, err = Filters(lab, nil, []Block{{From: []string{"blue1"}, To: []string{"pe"}}})
	if err != nil {
		t.Fatal(err)
	}
	pe = ""
	for _, st := range p.Stages {
		for _, op := range st.Ops {
			if o := op.(*kernel.Partition); strings.HasSuffix(o.NS, ".pe") {
				pe = o.String()
			}
		}
	}
	if want := `    iifname { "blue", "blue-a", "blue-b" } ip saddr 10.81.1.2 drop` + "\n"; !strings.Contains(pe, want) {
		t.Errorf("pe's filter lacks %q:\n%s", want, pe)
	}
	if strings.Contains(pe, "    ip saddr 10.81.1.2 drop") {
		t.Errorf("pe's filter drops 10.81.1.2 on every interface:\n%s", pe)
	}
	// Both customers' first sites off pe at once: no address is kept.
	got, err = filterPlan(t, lab, [][]string{{"pe"}, {"red1", "blue1"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got["pe"] != "10.81.1.2" {
		t.Errorf("pe drops %q, want 10.81.1.2", got["pe"])
	}
}
