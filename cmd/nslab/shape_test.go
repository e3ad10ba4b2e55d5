package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/nslab/nslab/kernel"
	"github.com/nslab/nslab/lab"
	"github.com/nslab/nslab/nslabtest"
)

// TestLinkShape: nslab link shape shapes a cable at runtime and records
// it as a fault in force: status (table and JSON) lists it and shows the
// shape read back from the kernel, heal takes it off again (the file
// shapes nothing here), "off" is a fault too, and down takes what is left.
func TestLinkShape(t *testing.T) {
	nslabtest.Kernel(t)
	if err := kernel.QdiscSupported("tbf"); err != nil {
		t.Skipf("this kernel has no tbf qdisc (sch_tbf): %v", err)
	}
	file, name := seedFile(t, nslabtest.Subnet(t))
	if r := nslab(t, "", "up", file); r.code != 0 {
		t.Fatalf("up: %s", r.stderr)
	}
	ref := name + ".ns1:eth0"
	record := filepath.Join(lab.StateDir, name, "faults.json")
	status := func(when string, faults []string, shape string) {
		t.Helper()
		r := nslab(t, "", "status", "-o", "json", name)
		var all []lab.Status
		if err := json.Unmarshal([]byte(r.stdout), &all); r.code != 0 || err != nil || len(all) != 1 {
			t.Fatalf("%s: status -o json: %d %v %s%s", when, r.code, err, r.stderr, r.stdout)
		}
		s := all[0]
		if !slices.Equal(s.Faults, faults) {
			t.Errorf("%s: faults %q, want %q", when, s.Faults, faults)
		}
		for _, n := range s.Nodes {
			if n.Name == "ns1" && n.Interfaces[0].Shape != shape {
				t.Errorf("%s: ns1:eth0 shaped %q, want %q", when, n.Interfaces[0].Shape, shape)
			}
		}
		table := nslab(t, "", "status", name).stdout
		if len(faults) > 0 && !strings.Contains(table, "faults in force in "+name+": "+strings.Join(faults, "; ")) {
			t.Errorf("%s: the status table does not list %q:\n%s", when, faults, table)
		}
	}

	r := nslab(t, "", "link", "shape", ref, "--rate", "5mbit", "--delay", "0s")
	if want := "cable of " + ref + " shaped: rate 5mbit (nslab heal " + name + " puts back the file's shaping)\n"; r.code != 0 || r.stdout != want {
		t.Fatalf("link shape: %d %q %s, want %q", r.code, r.stdout, r.stderr, want)
	}
	status("shaped", []string{"shape ns1:eth0 rate 5mbit"}, "rate 5mbit")
	if r := nslab(t, "", "heal", name); r.code != 0 || r.stdout != "lab "+name+" healed\n" {
		t.Fatalf("heal: %d %q %s", r.code, r.stdout, r.stderr)
	}
	status("healed", nil, "")
	if _, err := os.Stat(record); err == nil {
		t.Errorf("the record is left after heal")
	}
	if out := nslabtest.IP(t, "-n", name+".ns1", "link", "show", "eth0"); strings.Contains(out, "tbf") {
		t.Errorf("still shaped after heal: %s", out)
	}

	for _, bad := range [][]string{{"--rate", "10"}, {"--loss", "200%"}, {"--direction", "up", "--rate", "1mbit"}, {}, {"off", "--rate", "1mbit"}, {"slow"},
		{"--reorder", "25%"}, {"--duplicate", "0"}, {"--corrupt", "101%"}} {
		if r := nslab(t, "", append([]string{"link", "shape", ref}, bad...)...); r.code != 2 {
			t.Errorf("link shape %q: code %d (%s), want 2", bad, r.code, r.stderr)
		}
	}
	if r := nslab(t, "", "link", "shape", ref, "off"); r.code != 0 {
		t.Fatalf("link shape off: %s", r.stderr)
	}
	status("off", []string{"shape ns1:eth0 off"}, "")
	if r := nslab(t, "", "link", "shape", ref, "--rate", "2mbit"); r.code != 0 {
		t.Fatalf("link shape: %s", r.stderr)
	}
	status("shaped again", []string{"shape ns1:eth0 rate 2mbit"}, "rate 2mbit")
	// A loss alone is shaped on every kernel: netem's, or an nftables
	// rule where the kernel lacks netem, which status and the record say.
	via := ""
	if kernel.QdiscSupported("netem") != nil {
		via = " via nft"
	}
	if r := nslab(t, "", "link", "shape", ref, "--loss", "20%", "--direction", "out"); r.code != 0 {
		t.Fatalf("link shape --loss 20%% --direction out: %s", r.stderr)
	}
	status("loss", []string{"shape ns1:eth0 loss 20%" + via + ", direction out"}, "loss 20%"+via)
	// Duplicate, reorder and corrupt are flags too: made with netem where
	// the kernel has it, refused naming sch_netem where it has not.
	r = nslab(t, "", "link", "shape", ref, "--delay", "10ms", "--duplicate", "20%", "--reorder", "25%", "--corrupt", "1%")
	if kernel.QdiscSupported("netem") == nil {
		if r.code != 0 {
			t.Fatalf("link shape with duplicate, reorder and corrupt: %s", r.stderr)
		}
		const shape = "delay 10ms, duplicate 20%, reorder 25%, corrupt 1%"
		status("netem extras", []string{"shape ns1:eth0 " + shape}, shape)
	} else if r.code == 0 || r.code == 2 || !strings.Contains(r.stderr, "netem qdisc") || !strings.HasPrefix(r.stderr, "nslab: shaping ns1:eth0: shape: ") {
		t.Errorf("link shape with duplicate, reorder and corrupt on a kernel without netem: code %d, %s; want an error naming the interface and the netem qdisc", r.code, r.stderr)
	}
	// down (the cleanup) takes it with the lab; the leak check sees to it.
}
