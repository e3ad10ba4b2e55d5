package check

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/nslab/nslab/topology"
)

// MatrixMax is the most nodes (the host included) WriteMatrix draws a
// full matrix for; larger labs get a summary.
const MatrixMax = 20

// summaryFailures is how many failures a summary lists.
const summaryFailures = 100

// Report is the outcome of Run. It marshals to JSON as is.
type Report struct {
	Lab string `json:"lab"`
	// Nodes are the matrix's rows and columns: the lab's nodes by name,
	// then topology.HostNode if the host has lab addresses.
	Nodes  []string      `json:"nodes"`
	Probes []ProbeResult `json:"probes"`
	Passed int           `json:"passed"`
	Failed int           `json:"failed"`
}

// ProbeResult is a probe and how it went.
type ProbeResult struct {
	Probe
	OK bool `json:"ok"`
	// RTT is the round trip time of the answered request.
	RTT time.Duration `json:"rtt_ns,omitempty"`
	Err string        `json:"error,omitempty"`
}

func newReport(lab *topology.Lab, probes []Probe) *Report {
	r := &Report{Lab: lab.Name, Probes: make([]ProbeResult, len(probes))}
	for _, n := range lab.Nodes {
		r.Nodes = append(r.Nodes, n.Name)
	}
	if hasHostAddrs(lab) {
		r.Nodes = append(r.Nodes, topology.HostNode)
	}
	for i, p := range probes {
		r.Probes[i].Probe = p
	}
	return r
}

func hasHostAddrs(lab *topology.Lab) bool {
	for _, b := range lab.Bridges {
		if len(b.Addresses) > 0 {
			return true
		}
	}
	for _, i := range lab.Host {
		if len(i.Addresses) > 0 {
			return true
		}
	}
	return false
}

// tally counts passed and failed probes.
func (r *Report) tally() {
	r.Passed, r.Failed = 0, 0
	for _, p := range r.Probes {
		if p.OK {
			r.Passed++
		} else {
			r.Failed++
		}
	}
}

// WriteMatrix writes the reachability matrix: a row per source, a
// column per destination node, "ok" when every expected address
// answered, "2/3" when 2 of 3 did, "-" when nothing is expected. The
// failures follow, one per line:
//
//	ns1 -> 10.0.0.3 (ns2 eth0): no reply after 1s
//
// A lab of more than MatrixMax nodes gets a summary of counts and
// failures instead.
func (r *Report) WriteMatrix(w io.Writer) error {
	var b bytes.Buffer
	if len(r.Nodes) <= MatrixMax {
		r.writeTable(&b)
	}
	r.writeSummary(&b)
	_, err := w.Write(b.Bytes())
	return err
}

// cell counts the probes from one node to another.
type cell struct{ ok, all int }

func (c cell) String() string {
	switch {
	case c.all == 0:
		return "-"
	case c.ok == c.all:
		return "ok"
	}
	return fmt.Sprintf("%d/%d", c.ok, c.all)
}

func (r *Report) cells() map[[2]string]cell {
	m := map[[2]string]cell{}
	for _, p := range r.Probes {
		k := [2]string{p.From, p.ToNode}
		c := m[k]
		c.all++
		if p.OK {
			c.ok++
		}
		m[k] = c
	}
	return m
}

// writeTable writes the matrix, with columns aligned.
func (r *Report) writeTable(b *bytes.Buffer) {
	cells := r.cells()
	tw := tabwriter.NewWriter(b, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "from \\ to\t%s\n", strings.Join(r.Nodes, "\t"))
	for _, from := range r.Nodes {
		row := make([]string, 0, len(r.Nodes)+1)
		row = append(row, from)
		for _, to := range r.Nodes {
			row = append(row, cells[[2]string{from, to}].String())
		}
		fmt.Fprintf(tw, "%s\n", strings.Join(row, "\t"))
	}
	tw.Flush()
	b.WriteByte('\n')
}

// writeSummary writes the counts and the failures, capped for labs too
// large for a matrix.
func (r *Report) writeSummary(b *bytes.Buffer) {
	fmt.Fprintf(b, "%s: %d probes, %d passed, %d failed\n", r.Lab, len(r.Probes), r.Passed, r.Failed)
	shown := 0
	for _, p := range r.Probes {
		if p.OK {
			continue
		}
		if len(r.Nodes) > MatrixMax && shown == summaryFailures {
			fmt.Fprintf(b, "... and %d more failures\n", r.Failed-shown)
			return
		}
		fmt.Fprintln(b, p.failure())
		shown++
	}
}

// failure renders a failed probe as
// "ns1 -> 10.0.0.3 (ns2 eth0): no reply after 1s".
func (p ProbeResult) failure() string {
	where := p.ToNode + " " + p.ToDev
	if len(p.Hops) > 0 {
		where += " via " + strings.Join(p.Hops, ",")
	}
	why := p.Err
	if why == "" {
		why = "not probed"
	}
	return fmt.Sprintf("%s -> %s (%s): %s", p.From, p.To, where, why)
}
