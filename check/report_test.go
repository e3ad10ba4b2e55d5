package check

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// result makes a ProbeResult; why empty means it passed.
func result(from, to, toNode, why string) ProbeResult {
	p := ProbeResult{Probe: Probe{From: from, To: netip.MustParseAddr(to), ToNode: toNode, ToDev: "eth0"}}
	p.OK, p.Err = why == "", why
	if p.OK {
		p.RTT = 50 * time.Microsecond
	}
	return p
}

func sampleReport() *Report {
	r := &Report{Lab: "seed", Nodes: []string{"ns1", "ns2-long-name", "host"}, Probes: []ProbeResult{
		result("ns1", "10.0.0.3", "ns2-long-name", ""),
		result("ns1", "fd00::3", "ns2-long-name", "no reply after 1s"),
		result("ns1", "10.0.0.1", "host", ""),
		result("ns2-long-name", "10.0.0.2", "ns1", ""),
		result("host", "10.0.0.2", "ns1", ""),
	}}
	r.tally()
	return r
}

func TestWriteMatrix(t *testing.T) {
	var b strings.Builder
	if err := sampleReport().WriteMatrix(&b); err != nil {
		t.Fatal(err)
	}
	want := `from \ to      ns1  ns2-long-name  host
ns1            -    1/2            ok
ns2-long-name  ok   -              -
host           ok   -              -

seed: all pairs, 5 probes, 4 passed, 1 failed
ns1 -> fd00::3 (ns2-long-name eth0): no reply after 1s
`
	if diff := cmp.Diff(want, b.String()); diff != "" {
		t.Errorf("WriteMatrix() mismatch (-want +got):\n%s", diff)
	}
}

func TestWriteMatrixSummary(t *testing.T) {
	r := &Report{Lab: "big"}
	for i := range MatrixMax + 1 {
		r.Nodes = append(r.Nodes, fmt.Sprintf("n%d", i))
		r.Probes = append(r.Probes, result(r.Nodes[i], "10.0.0.1", "host", ""))
	}
	r.Probes[3] = result("n3", "10.0.0.9", "n9", "no reply after 1s")
	r.tally()
	var b strings.Builder
	if err := r.WriteMatrix(&b); err != nil {
		t.Fatal(err)
	}
	want := "big: all pairs, 21 probes, 20 passed, 1 failed\nn3 -> 10.0.0.9 (n9 eth0): no reply after 1s\n"
	if diff := cmp.Diff(want, b.String()); diff != "" {
		t.Errorf("WriteMatrix() mismatch (-want +got):\n%s", diff)
	}
}

func TestReportJSON(t *testing.T) {
	b, err := json.Marshal(sampleReport())
	if err != nil {
		t.Fatal(err)
	}
	var back struct {
		Lab    string
		Probes []map[string]any
		Failed int
	}
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	got := back.Probes[1]
	want := map[string]any{
		"from": "ns1", "to": "fd00::3", "to_node": "ns2-long-name", "to_dev": "eth0",
		"src": "", "ok": false, "error": "no reply after 1s",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("JSON probe mismatch (-want +got):\n%s\nin %s", diff, b)
	}
	if back.Lab != "seed" || back.Failed != 1 {
		t.Errorf("JSON report = %s", b)
	}
}

func TestWriteMatrixSampled(t *testing.T) {
	r := &Report{Lab: "seed", Mode: ModeSampled, Nodes: []string{"ns1", "ns2", "host"}, Probes: []ProbeResult{
		result("ns1", "10.0.0.3", "ns2", ""),
		result("ns1", "fd00::3", "ns2", "no reply after 1s"),
		result("host", "10.0.0.2", "ns1", ""),
	}, Sample: &Sample{Pairs: 2, Of: 6, Asked: 2, Seed: 5, Tried: 3}}
	r.tally()
	var b strings.Builder
	if err := r.WriteMatrix(&b); err != nil {
		t.Fatal(err)
	}
	want := `from \ to  ns1  ns2  host
ns1        .    1/2  .
ns2        .    .    .
host       ok   .    .

seed: sampled 2 of 6 pairs (seed 5), 3 probes, 2 passed, 1 failed
ns1 -> fd00::3 (ns2 eth0): no reply after 1s
`
	if diff := cmp.Diff(want, b.String()); diff != "" {
		t.Errorf("WriteMatrix() mismatch (-want +got):\n%s", diff)
	}
}

func TestWriteMatrixAutoSampled(t *testing.T) {
	r := &Report{Lab: "big", Mode: ModeSampled, Waves: 3, Sample: &Sample{
		Pairs: 500, Of: 999000, Asked: 500, Seed: 0, Tried: 512, Auto: true,
		Reason: "probing all pairs needs about 999,000 IPv4 neighbour entries"}}
	for i := range MatrixMax + 1 {
		r.Nodes = append(r.Nodes, fmt.Sprintf("n%d", i))
	}
	for range 1000 {
		r.Probes = append(r.Probes, result("n1", "10.0.0.2", "n2", ""))
	}
	r.tally()
	var b strings.Builder
	if err := r.WriteMatrix(&b); err != nil {
		t.Fatal(err)
	}
	want := "big: sampled 500 of 999,000 pairs (seed 0), 1,000 probes in 3 waves, 1,000 passed, 0 failed\n" +
		"sampled because probing all pairs needs about 999,000 IPv4 neighbour entries\n"
	if diff := cmp.Diff(want, b.String()); diff != "" {
		t.Errorf("WriteMatrix() mismatch (-want +got):\n%s", diff)
	}
	r.Sample.Auto, r.Sample.Pairs, r.Sample.Tried = false, 3, 65536
	b.Reset()
	r.WriteMatrix(&b)
	if want := "big: sampled 3 of 999,000 pairs (seed 0; 500 asked, but only 3 of 65,536 drawn are connected), "; !strings.HasPrefix(b.String(), want) {
		t.Errorf("WriteMatrix() = %q, want it to start with %q", b.String(), want)
	}
}

func TestReportJSONMode(t *testing.T) {
	r := sampleReport()
	r.Mode, r.Sample = ModeSampled, &Sample{Pairs: 2, Of: 6, Asked: 2, Seed: 9, Tried: 2}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var back struct {
		Mode   string
		Sample map[string]any
	}
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"pairs": 2.0, "of": 6.0, "asked": 2.0, "seed": 9.0, "tried": 2.0}
	if diff := cmp.Diff(want, back.Sample); diff != "" || back.Mode != "sampled" {
		t.Errorf("JSON mode %q, sample (-want +got):\n%s", back.Mode, diff)
	}
	full, _ := json.Marshal(&Report{Mode: ModeFull})
	if !strings.Contains(string(full), `"mode":"full"`) || strings.Contains(string(full), `"sample"`) {
		t.Errorf("JSON of a full report: %s", full)
	}
}
