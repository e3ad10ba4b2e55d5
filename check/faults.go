package check

import (
	"fmt"
	"slices"

	"github.com/nslab/nslab/topology"
)

// Faults are the faults in force in a lab (the lab's record of them):
// the pairs they separate are expected not to answer. Run probes them
// all the same and fails those that answer: the fault did not take.
type Faults struct {
	// Cuts are interfaces whose cable is cut, as "node:iface".
	Cuts []string
	// Partition is groups of nodes that do not reach each other.
	Partition [][]string
	// Blocks are one-way faults: what From send to To is dropped, all of
	// it, or a share with Loss (a percentage below 100).
	Blocks []Block
}

// Block is a one-way fault, as Faults lists it.
type Block struct {
	From, To []string
	Loss     float64
}

// Kinds of faults a probe meets (ProbeResult.Fault).
const (
	FaultCut       = "cut"
	FaultPartition = "partitioned"
	// FaultBlock: an echo fails both ways through a one-way block, the
	// request or the reply being dropped.
	FaultBlock = "blocked"
	// FaultLossy: a share of the packets is lost on the way; the probe
	// may answer or not, and counts neither way.
	FaultLossy = "lossy"
)

// classify sets the fault each probe meets, if any. A cut is known
// only where the model is worked out in full (not in a sample): the
// probes the lab's model expects that the model without the cut cables
// does not.
func (r *Report) classify(lab *topology.Lab, f *Faults) {
	if f == nil {
		return
	}
	var uncut map[[2]string]bool
	if len(f.Cuts) > 0 && !r.Sampled() {
		uncut = map[[2]string]bool{}
		for _, p := range newWorld(lab, f.Cuts...).expectAll() {
			uncut[[2]string{p.From, p.To.String()}] = true
		}
	}
	group := map[string]int{}
	for g, nodes := range f.Partition {
		for _, n := range nodes {
			group[n] = g + 1
		}
	}
	for i := range r.Probes {
		p := &r.Probes[i]
		a, b := StackNode(p.From), StackNode(p.ToNode) // a fault of pe holds for pe@red
		switch {
		case group[a] != 0 && group[b] != 0 && group[a] != group[b]:
			p.Fault = FaultPartition
		case uncut != nil && !uncut[[2]string{p.From, p.To.String()}]:
			p.Fault = FaultCut
		default:
			p.Fault = blockOf(f.Blocks, a, b)
		}
	}
}

// blockOf is the fault the blocks put between a and b, either way: the
// whole of one beats a share.
func blockOf(blocks []Block, a, b string) string {
	out := ""
	for _, bl := range blocks {
		if !(slices.Contains(bl.From, a) && slices.Contains(bl.To, b)) && !(slices.Contains(bl.From, b) && slices.Contains(bl.To, a)) {
			continue
		}
		if bl.Loss > 0 && bl.Loss < 100 {
			out = FaultLossy
			continue
		}
		return FaultBlock
	}
	return out
}

// faultErr is a faulted probe that answered.
func faultErr(p ProbeResult) string {
	return fmt.Sprintf("answers while %s (the fault did not take)", p.Fault)
}

// failed reports whether the probe counts as failed: an unfaulted probe
// that did not answer, or a faulted one (not lossy) that did.
func (p ProbeResult) failed() bool {
	switch p.Fault {
	case "":
		return !p.OK
	case FaultLossy:
		return false
	}
	return p.OK
}
