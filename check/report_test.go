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

seed: 5 probes, 4 passed, 1 failed
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
	want := "big: 21 probes, 20 passed, 1 failed\nn3 -> 10.0.0.9 (n9 eth0): no reply after 1s\n"
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
