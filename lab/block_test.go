package lab_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nslab/nslab/lab"
	"github.com/nslab/nslab/nslabtest"
	"github.com/nslab/nslab/plan"
)

// TestBlockOneWay blocks n1 -> n2 on one bridge and proves it one way at
// a time, from both ends: n1's datagrams to n2 are all lost while n2's to
// n1 all arrive, and n1 -> n3 is untouched; a 30% loss n3 -> n1 through
// nftables (no netem) loses about 30% of n3's datagrams and none of n1's.
// Both are in the lab's record of faults; heal takes them away.
func TestBlockOneWay(t *testing.T) {
	nslabtest.Kernel(t)
	sub := nslabtest.Subnet(t)
	v6 := "fd10:" + strings.ReplaceAll(strings.TrimPrefix(sub, "10."), ".", ":")
	tl := up(t, strings.NewReplacer("SUB", sub, "V6", v6).Replace(`
bridges:
  br0: {}
nodes:
  n1: {interfaces: {eth0: {link: br0, addresses: [SUB.11/24, "V6::11/64"]}}}
  n2: {interfaces: {eth0: {link: br0, addresses: [SUB.12/24, "V6::12/64"]}}}
  n3: {interfaces: {eth0: {link: br0, addresses: [SUB.13/24, "V6::13/64"]}}}
`))
	block := func(b plan.Block) {
		t.Helper()
		if err := lab.Block(context.Background(), tl.Name, b, lab.Options{}); err != nil {
			if strings.Contains(err.Error(), "needs nf_tables") {
				t.Skipf("this kernel has no nf_tables: %v", err)
			}
			t.Fatal(err)
		}
	}
	const n = 2000
	arrived := func(from, to, addr string) float64 {
		t.Helper()
		return udpArrived(t, tl, from, to, addr, n)
	}
	block(plan.Block{From: []string{"n1"}, To: []string{"n2"}})
	got := map[string]float64{
		"n1 -> n2": arrived("n1", "n2", sub+".12"), "n2 -> n1": arrived("n2", "n1", sub+".11"),
		"n1 -> n2 (v6)": arrived("n1", "n2", v6+"::12"), "n2 -> n1 (v6)": arrived("n2", "n1", v6+"::11"),
		"n1 -> n3": arrived("n1", "n3", sub+".13"),
	}
	t.Logf("block n1 -> n2, share of %d datagrams that arrived: %v", n, got)
	for path, share := range got {
		want := 1.0
		if strings.HasPrefix(path, "n1 -> n2") {
			want = 0
		}
		if share != want {
			t.Errorf("block n1 -> n2: %s %.1f%% arrived, want %.0f%%", path, share*100, want*100)
		}
	}

	block(plan.Block{From: []string{"n3"}, To: []string{"n1"}, Loss: 30})
	lossy, back := arrived("n3", "n1", sub+".11"), arrived("n1", "n3", sub+".13")
	t.Logf("loss 30%% n3 -> n1 through nftables: n3 -> n1 %.1f%% arrived, n1 -> n3 %.1f%%", lossy*100, back*100)
	// 30% of 2000 is 600 lost, with a deviation of 20.5: within 4 of them.
	if lossy < 0.659 || lossy > 0.741 {
		t.Errorf("n3 -> n1 through a 30%% loss: %.1f%% arrived, want 65.9%% to 74.1%%", lossy*100)
	}
	if back != 1 {
		t.Errorf("n1 -> n3 with a loss the other way: %.1f%% arrived, want all", back*100)
	}
	if share := arrived("n1", "n2", sub+".12"); share != 0 {
		t.Errorf("the first block no longer holds beside the second: n1 -> n2 %.1f%% arrived", share*100)
	}

	var rec plan.Faults
	data, err := os.ReadFile(filepath.Join(lab.StateDir, tl.Name, "faults.json"))
	if err == nil {
		err = json.Unmarshal(data, &rec)
	}
	if err != nil {
		t.Fatalf("reading the record of faults: %v", err)
	}
	if len(rec.Blocks) != 2 || rec.Blocks[0].String() != "n1 -> n2" || rec.Blocks[1].String() != "n3 -> n1 loss 30%" {
		t.Errorf("the record holds blocks %v, want [n1 -> n2, n3 -> n1 loss 30%%]", rec.Blocks)
	}

	healed, err := lab.Heal(context.Background(), tl.Name, lab.Options{})
	if err != nil || !healed {
		t.Fatalf("heal: %v, healed %v", err, healed)
	}
	for _, p := range [][3]string{{"n1", "n2", sub + ".12"}, {"n3", "n1", sub + ".11"}} {
		if share := arrived(p[0], p[1], p[2]); share != 1 {
			t.Errorf("healed: %s -> %s %.1f%% arrived, want all", p[0], p[1], share*100)
		}
	}
	if _, err := os.Stat(filepath.Join(lab.StateDir, tl.Name, "faults.json")); !os.IsNotExist(err) {
		t.Errorf("healed, the record of faults is still there: %v", err)
	}
	for _, bad := range []plan.Block{{From: []string{"n1"}, To: []string{"n1"}}, {From: []string{"n9"}, To: []string{"n1"}}, {From: []string{"n1"}}} {
		if err := lab.Block(context.Background(), tl.Name, bad, lab.Options{}); err == nil {
			t.Errorf("block %v: no error", bad)
		}
	}
}
