package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestShortCheck(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"nslab check --sample 100 right after up: nslab: lab x: 36 of 208 probes failed, in a sample of 100 pairs of nodes; " +
			"the same sample 5 s later: nslab: lab x: 50 of 208 probes failed, in a sample of 100 pairs of nodes [drops: 1]",
			"36 of 208 probes failed right after up; 50 of 208 probes failed 5 s later"},
		{"nslab check --sample 20: x: sampled 20 of 10,100 pairs (seed 0), 40 probes, 40 passed, 0 failed",
			"0 of 40 probes failed right after up"},
		{"nslab check --sample 100: x: sampled 100 of 93,942 pairs (seed 0), 212 probes in 2 waves, 212 passed, 0 failed",
			"0 of 212 probes failed right after up"},
		{"bench prober: 100 pairs, 200 probes, 7 failed (a → b: no reply) in 6.40 s; 5 s later those 7 probes: 0 failed",
			"7 of 200 probes failed right after up"},
		{"not probed", "not probed"},
	} {
		if got := shortCheck(tc.in); got != tc.want {
			t.Errorf("shortCheck(%q)\n got %q\nwant %q", tc.in, got, tc.want)
		}
	}
}

func TestPercentile(t *testing.T) {
	var d []time.Duration
	for i := 10; i >= 1; i-- {
		d = append(d, time.Duration(i)*time.Millisecond)
	}
	if got := median(d); got != 5*time.Millisecond {
		t.Errorf("median = %v, want 5ms", got)
	}
	if got := percentile(d, 90); got != 9*time.Millisecond {
		t.Errorf("p90 = %v, want 9ms", got)
	}
	if got := medianF([]float64{3, 1, 2, 4}); got != 2.5 {
		t.Errorf("medianF = %v, want 2.5", got)
	}
}

// The fallback generator's files must read back with the nodes and
// addresses the prober needs (nslab itself validates them when it runs).
func TestFallbackFiles(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name              string
		text              string
		nodes, hosts, brs int
	}{
		{"star", fallbackStar("bench-star-300", 300, false), 300, 300, 1},
		{"lans", fallbackLANs("bench-big-2500", 2500, 1000, false), 2501, 2500, 3},
	} {
		path := filepath.Join(dir, tc.name+".yaml")
		if err := os.WriteFile(path, []byte(tc.text), 0o644); err != nil {
			t.Fatal(err)
		}
		lf, err := readLabFile(path)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if len(lf.Nodes) != tc.nodes || len(lf.hosts()) != tc.hosts || lf.Bridges != tc.brs {
			t.Errorf("%s: %d nodes, %d hosts, %d bridges; want %d, %d, %d", tc.name, len(lf.Nodes), len(lf.hosts()), lf.Bridges, tc.nodes, tc.hosts, tc.brs)
		}
		if got := len(lf.Nodes["h1"]); got != 2 {
			t.Errorf("%s: h1 has %d addresses, want 2 (IPv4 and IPv6)", tc.name, got)
		}
		if pairs := samplePairs(lf, func(n string) string { return n }, 10); len(pairs) != 20 {
			t.Errorf("%s: %d probes for 10 pairs, want 20", tc.name, len(pairs))
		}
	}
	_, v6 := lanAddr(1001, 1, 20)
	if v6.String() != "fd10:0:0:1::3e9" {
		t.Errorf("lanAddr v6 = %s", v6)
	}
}

func TestParseLinkLine(t *testing.T) {
	line := `35101: np-kvsspcrphv@if2: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc noqueue master nb-x state UP mode DEFAULT group default qlen 1000\    link/ether 2e:1a:8f:2c:65:1e brd ff:ff:ff:ff:ff:ff link-netns bench-star-20.h1\    alias nslab:bench-star-20:port:h1:eth0\    altname h1.eth0.bench-star-20`
	name, alts := parseLinkLine(line)
	if name != "np-kvsspcrphv" || len(alts) != 2 || alts[1] != "h1.eth0.bench-star-20" || alts[0] != "nslab:bench-star-20:port:h1:eth0" {
		t.Errorf("parseLinkLine = %q, %q", name, alts)
	}
}

// The reconcile test's files: one host's interface with an MTU, and one
// node more whose addresses the file does not use yet.
func TestPrepareReconcile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "bench-star-300.yaml")
	if err := os.WriteFile(path, []byte(fallbackStar("bench-star-300", 300, false)), 0o644); err != nil {
		t.Fatal(err)
	}
	lf, err := readLabFile(path)
	if err != nil {
		t.Fatal(err)
	}
	f, err := (&bench{}).prepareReconcile("bench-star-300", path, lf)
	if err != nil {
		t.Fatal(err)
	}
	if f.node != "h150" || f.iface != "eth0" || f.keep != "h1" || f.added != "h301" || f.link != "br0" {
		t.Errorf("node %s %s, keep %s, added %s on %s", f.node, f.iface, f.keep, f.added, f.link)
	}
	orig, _ := os.ReadFile(path)
	if got, _ := os.ReadFile(f.mtuPath); string(got) != strings.Replace(string(orig),
		"eth0: {link: br0, addresses: [10.0.0.151/16,", "eth0: {link: br0, mtu: 1400, addresses: [10.0.0.151/16,", 1) {
		t.Errorf("the mtu file is not the file with mtu: 1400 on h150's eth0")
	}
	if m, err := readLabFile(f.mtuPath); err != nil || len(m.Nodes) != 300 || m.Name != "bench-star-300" {
		t.Errorf("mtu file: %v", err)
	}
	if got, _ := os.ReadFile(f.addPath); string(got) != strings.Replace(string(orig), "  h151:\n",
		"  h301:\n    interfaces:\n      eth0: {link: br0, addresses: [10.0.1.46/16, \"fd10::12e/64\"]}\n  h151:\n", 1) {
		t.Errorf("the add file is not the file with h301 (10.0.1.46/16, fd10::12e/64) before h151")
	}
	if a, err := readLabFile(f.addPath); err != nil || len(a.Nodes) != 301 {
		t.Errorf("add file: %v", err)
	}

	// Block style, no name: the name is added (else up would name the lab
	// after the file), the mtu goes on a line of its own, a MAC is not copied.
	path = filepath.Join(dir, "lab.yaml")
	head := "nodes:\n  a:\n    interfaces:\n      eth0: {link: br, addresses: [10.9.0.2/24]}\n"
	tail := "  b:\n    interfaces:\n      eth0:\n        link: br\n        mac: 02:00:00:00:00:01\n        addresses: [10.9.0.3/24]\n" +
		"bridges:\n  br: {addresses: [10.9.0.4/24]}\n"
	if err := os.WriteFile(path, []byte(head+tail), 0o644); err != nil {
		t.Fatal(err)
	}
	if lf, err = readLabFile(path); err != nil {
		t.Fatal(err)
	}
	if f, err = (&bench{}).prepareReconcile("lab", path, lf); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(f.mtuPath); string(got) != "name: lab\n"+head+strings.Replace(tail, "      eth0:\n", "      eth0:\n        mtu: 1400\n", 1) {
		t.Errorf("mtu file:\n%s", got)
	}
	added := "  h3:\n    interfaces:\n      eth0:\n        link: br\n        addresses: [10.9.0.5/24]\n"
	if got, _ := os.ReadFile(f.addPath); string(got) != "name: lab\nnodes:\n"+added+strings.TrimPrefix(head, "nodes:\n")+tail {
		t.Errorf("add file:\n%s", got)
	}
}

// TestHugeFlag: the 50,000-node lab of the scaling table runs only when
// asked for, and its row joins the table between the others by size.
func TestHugeFlag(t *testing.T) {
	c, err := parseFlags(nil)
	if err != nil || c.huge != 0 {
		t.Fatalf("default: huge %d, %v; want 0 (the default run stays short)", c.huge, err)
	}
	if c, err = parseFlags([]string{"-huge", "50000"}); err != nil || c.huge != 50000 {
		t.Fatalf("-huge 50000: huge %d, %v", c.huge, err)
	}
	if _, err = parseFlags([]string{"-huge", "-1"}); err == nil {
		t.Error("-huge -1 accepted")
	}
	b := &bench{cfg: c}
	b.res.big = &lifecycle{Tool: "nslab", N: 10000, Split: true, Done: true, Up: 20 * time.Second, Topo: "ten"}
	b.res.huge = &lifecycle{Tool: "nslab", N: 50000, Split: true, Done: true, Up: 300 * time.Second, Topo: "fifty", MemPerNode: 290 << 10}
	b.res.runs = []*lifecycle{{Tool: "nslab", N: 1000, Split: true, Done: true, Up: time.Second, Topo: "one"}}
	var got []string
	for _, row := range b.scalingTable().rows {
		got = append(got, row[0])
	}
	if strings.Join(got, ",") != "1000,10000,50000" {
		t.Errorf("scaling table rows %v, want 1000, 10000, 50000", got)
	}
	tb := b.bigTable(b.res.huge)
	found := false
	for _, row := range tb.rows {
		found = found || row[0] == "kernel memory per node" && strings.HasPrefix(row[1], "290 KiB")
	}
	if !found {
		t.Errorf("the huge lab's table does not give its kernel memory per node: %v", tb.rows)
	}
}
