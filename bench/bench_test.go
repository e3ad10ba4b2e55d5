package main

import (
	"os"
	"path/filepath"
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
	line := `35101: np-kvsspcrphv@if2: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc noqueue master nb-x state UP mode DEFAULT group default qlen 1000\    link/ether 2e:1a:8f:2c:65:1e brd ff:ff:ff:ff:ff:ff link-netns bench-star-20.h1\    alias nslab:bench-star-20:port:h1:eth0\    altname bench-star-20.h1.eth0`
	name, alts := parseLinkLine(line)
	if name != "np-kvsspcrphv" || len(alts) != 2 || alts[1] != "bench-star-20.h1.eth0" || alts[0] != "nslab:bench-star-20:port:h1:eth0" {
		t.Errorf("parseLinkLine = %q, %q", name, alts)
	}
}
