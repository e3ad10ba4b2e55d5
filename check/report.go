package check

import (
	"bytes"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/nslab/nslab/internal/natsort"
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
	// Mode is ModeFull when every pair of nodes was considered,
	// ModeSampled when a sample of them was; empty reads as full.
	Mode string `json:"mode"`
	// Sample says how the pairs were drawn, in ModeSampled.
	Sample *Sample `json:"sample,omitempty"`
	// Nodes are the matrix's rows and columns: the lab's nodes by name
	// (a node with vrfs as NODE@VRF for each, and as NODE for its main
	// table if that has addresses), then topology.HostNode if the host
	// has lab addresses.
	Nodes  []string      `json:"nodes"`
	Probes []ProbeResult `json:"probes"`
	Passed int           `json:"passed"`
	Failed int           `json:"failed"`
	// Waves is how many rounds the probes were sent in, to spare the
	// kernel's neighbour tables.
	Waves int `json:"waves,omitempty"`
	// Retried is how many probes failed at first and were sent once more,
	// after the others (see Run); their result is the second one.
	Retried int `json:"retried,omitempty"`
	// Faulted is how many probes met a fault in force (Options.Faults)
	// and did not answer, as expected, or met a share of loss; they
	// count neither as passed nor failed. A faulted probe that answered
	// counts as failed.
	Faulted int `json:"faulted,omitempty"`
}

// Report modes.
const (
	ModeFull    = "full"
	ModeSampled = "sampled"
)

// Sampled reports whether the report covers a sample of pairs.
func (r *Report) Sampled() bool { return r.Mode == ModeSampled && r.Sample != nil }

// ProbeResult is a probe and how it went.
type ProbeResult struct {
	Probe
	OK bool `json:"ok"`
	// RTT is the round trip time of the answered request.
	RTT time.Duration `json:"rtt_ns,omitempty"`
	Err string        `json:"error,omitempty"`
	// Fault is the fault in force the probe meets (FaultCut ...), if any:
	// it is expected not to answer.
	Fault string `json:"fault,omitempty"`
}

func newReport(lab *topology.Lab, probes []Probe) *Report {
	r := &Report{Lab: lab.Name, Probes: make([]ProbeResult, len(probes))}
	for _, n := range lab.Nodes {
		for _, v := range vrfViews(n) {
			if v.Name != n.Name || len(v.Interfaces) == len(n.Interfaces) || hasAddrs(v) {
				r.Nodes = append(r.Nodes, v.Name)
			}
		}
	}
	slices.SortFunc(r.Nodes, natsort.Compare) // h2 before h10
	if hasHostAddrs(lab) {
		r.Nodes = append(r.Nodes, topology.HostNode)
	}
	for i, p := range probes {
		r.Probes[i].Probe = p
	}
	return r
}

// hasAddrs reports whether a node (or a vrf's view of it) has addresses.
func hasAddrs(n *topology.Node) bool {
	return slices.ContainsFunc(n.Interfaces, func(i *topology.Interface) bool { return len(i.Addresses) > 0 })
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

// Merge joins the reports of one lab's probes sent from different
// sources (the machines of a lab across machines, see Options.Sources)
// into one, probes by source in the order of the first report's nodes.
func Merge(reports ...*Report) *Report {
	if len(reports) == 0 {
		return nil
	}
	out := *reports[0]
	out.Probes = nil
	out.Waves, out.Retried = 0, 0
	for _, r := range reports {
		out.Probes = append(out.Probes, r.Probes...)
		out.Waves = max(out.Waves, r.Waves)
		out.Retried += r.Retried
	}
	rank := map[string]int{}
	for i, n := range out.Nodes {
		rank[n] = i
	}
	of := func(from string) int { // pe@red has a row of its own
		if i, ok := rank[from]; ok {
			return i
		}
		return rank[StackNode(from)]
	}
	slices.SortStableFunc(out.Probes, func(a, b ProbeResult) int { return of(a.From) - of(b.From) })
	out.tally()
	return &out
}

// tally counts passed and failed probes.
func (r *Report) tally() {
	r.Passed, r.Failed, r.Faulted = 0, 0, 0
	for i := range r.Probes {
		p := &r.Probes[i]
		switch {
		case p.failed():
			r.Failed++
			if p.OK {
				p.Err = faultErr(*p)
			}
		case p.Fault != "":
			r.Faulted++
		default:
			r.Passed++
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
// failures instead. The summary says whether all pairs were probed or a
// sample, and why Run sampled by itself; in a sampled matrix, "." marks
// the pairs not drawn.
func (r *Report) WriteMatrix(w io.Writer) error {
	var b bytes.Buffer
	if len(r.Nodes) <= MatrixMax {
		r.writeTable(&b)
	}
	r.writeSummary(&b)
	_, err := w.Write(b.Bytes())
	return err
}

// cell counts the probes from one node to another: ok those that went
// as expected, faulted those that met a fault, of kind fault.
type cell struct {
	ok, all, faulted int
	fault            string
}

func (c cell) String() string {
	switch {
	case c.all == 0:
		return "-"
	case c.all < 0:
		return "."
	case c.faulted == c.all && c.ok == c.all:
		return c.fault // every probe met the fault and none answered
	case c.faulted == c.all:
		return c.fault + "!" // a fault that did not take
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
		if !p.failed() {
			c.ok++
		}
		if p.Fault != "" {
			c.faulted++
			c.fault = p.Fault
		}
		m[k] = c
	}
	return m
}

// writeTable writes the matrix, with columns aligned.
func (r *Report) writeTable(b *bytes.Buffer) {
	cells := r.cells()
	none := cell{}
	if r.Sampled() {
		none.all = -1 // not drawn: nothing is known
	}
	tw := tabwriter.NewWriter(b, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "from \\ to\t%s\n", strings.Join(r.Nodes, "\t"))
	for _, from := range r.Nodes {
		row := make([]string, 0, len(r.Nodes)+1)
		row = append(row, from)
		for _, to := range r.Nodes {
			c, ok := cells[[2]string{from, to}]
			if !ok {
				c = none
			}
			row = append(row, c.String())
		}
		fmt.Fprintf(tw, "%s\n", strings.Join(row, "\t"))
	}
	tw.Flush()
	b.WriteByte('\n')
}

// writeSummary writes the counts and the failures, capped for labs too
// large for a matrix.
func (r *Report) writeSummary(b *bytes.Buffer) {
	retried := ""
	if r.Retried > 0 {
		retried = fmt.Sprintf(" (%s retried once)", thousands(r.Retried))
	}
	faulted := ""
	if r.Faulted > 0 {
		faulted = fmt.Sprintf(", %s met faults in force", thousands(r.Faulted))
	}
	fmt.Fprintf(b, "%s: %s, %s probes%s, %s passed, %s failed%s%s\n", r.Lab, r.coverage(),
		thousands(len(r.Probes)), r.waves(), thousands(r.Passed), thousands(r.Failed), faulted, retried)
	if r.Sampled() && r.Sample.Auto {
		fmt.Fprintf(b, "sampled because %s\n", r.Sample.Reason)
	}
	shown := 0
	for _, p := range r.Probes {
		if !p.failed() {
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

// coverage says which pairs were probed: "all pairs", or "sampled 500
// of 999,000 pairs (seed 1)".
func (r *Report) coverage() string {
	if !r.Sampled() {
		return "all pairs"
	}
	s := r.Sample
	out := fmt.Sprintf("sampled %s of %s pairs (seed %d", thousands(s.Pairs), thousands(s.Of), s.Seed)
	if s.Pairs < s.Asked && s.Tried < s.Of {
		out += fmt.Sprintf("; %s asked, but only %s of %s drawn are connected", thousands(s.Asked), thousands(s.Pairs), thousands(s.Tried))
	}
	return out + ")"
}

func (r *Report) waves() string {
	if r.Waves < 2 {
		return ""
	}
	return fmt.Sprintf(" in %d waves", r.Waves)
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
