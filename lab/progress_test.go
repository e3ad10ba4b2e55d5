package lab

import (
	"fmt"
	"testing"
	"time"

	"github.com/nslab/nslab/kernel"
	"github.com/nslab/nslab/plan"
)

// fakePlan is a plan of n namespaces, n links and n addresses, as up
// makes for a star.
func fakePlan(n int) *plan.Plan {
	p := &plan.Plan{}
	var ns, links, addrs []kernel.Op
	for i := range n {
		name := fmt.Sprintf("x.h%d", i)
		ns = append(ns, &kernel.NetnsAdd{Name: name})
		links = append(links, &kernel.LinkSetup{NS: name, Name: "eth0"})
		addrs = append(addrs, &kernel.LinkSetup{NS: name, Name: "eth0"})
	}
	p.Stages = []plan.Stage{{Name: "namespaces", Ops: ns}, {Name: "links", Ops: links}, {Name: "addresses", Ops: addrs}}
	return p
}

// run ticks the operations of p on a fake clock, each taking what took
// says for its stage, waits for n links at wait each, and returns every
// report with the true time left at it.
func run(p *plan.Plan, links int, took map[string]time.Duration) (reps []Progress, truth []time.Duration) {
	now := time.Unix(1e9, 0)
	m := newMeter(p, links, func(r Progress) { reps = append(reps, r) })
	m.now = func() time.Time { return now }
	m.start, m.last = now, now
	for _, s := range p.Stages {
		for _, op := range s.Ops {
			now = now.Add(took[s.Name])
			m.tick(s.Name, op)
		}
	}
	for range links {
		now = now.Add(took[linksUpStage])
		m.waited(1)
	}
	end := reps[len(reps)-1].Elapsed
	for _, r := range reps {
		truth = append(truth, end-r.Elapsed)
	}
	return reps, truth
}

// TestProgressEstimate: the time left is told once enough is done, within
// a third of the truth past the first fifth of the work, when the stages
// cost what stageCost says, relative to each other, on a machine three
// times as slow; it never grows by more than the truth; Done reaches
// Total.
func TestProgressEstimate(t *testing.T) {
	us := func(f float64) time.Duration { return time.Duration(3 * f * float64(time.Microsecond)) }
	took := map[string]time.Duration{"namespaces": us(stageCost["namespaces"]), "links": us(stageCost["links"]),
		"addresses": us(stageCost["addresses"]), linksUpStage: us(stageCost[linksUpStage])}
	reps, truth := run(fakePlan(2000), 2000, took)
	last := reps[len(reps)-1]
	if last.Done != last.Total || last.Total != 8000 {
		t.Fatalf("last report %+v: want 8000 of 8000 done", last)
	}
	for i, r := range reps {
		if r.Elapsed < minElapsed && r.Left != 0 {
			t.Fatalf("report %d told %v left after only %v", i, r.Left, r.Elapsed)
		}
		if i < len(reps)/5 || r.Done == r.Total {
			continue
		}
		if off := float64(r.Left-truth[i]) / float64(truth[i]); off > 1.0/3 || off < -1.0/3 {
			t.Errorf("report %d (%s, %d/%d done, %v in): %v left, truly %v", i, r.Stage, r.Done, r.Total, r.Elapsed, r.Left, truth[i])
		}
	}
}

// TestProgressEstimateCorrects: a stage much slower than its weight (the
// namespaces of a 10,000-node down, 70 times their weight) is estimated
// at its own pace once 2% of it is done.
func TestProgressEstimateCorrects(t *testing.T) {
	p := &plan.Plan{}
	var ns []kernel.Op
	for i := range 10000 {
		ns = append(ns, &kernel.NetnsDel{Name: fmt.Sprintf("x.h%d", i)})
	}
	p.Stages = []plan.Stage{{Name: "links", Ops: []kernel.Op{&kernel.LinkGroupDel{Names: make([]string, 10000)}}}, {Name: "namespaces", Ops: ns}}
	reps, truth := run(p, 0, map[string]time.Duration{"links": 20 * time.Second, "namespaces": 2500 * time.Microsecond})
	for i, r := range reps {
		if r.Stage != "namespaces" || r.Done < 1+10000/50 || r.Done == r.Total {
			continue
		}
		if off := float64(r.Left-truth[i]) / float64(truth[i]); off > 0.1 || off < -0.1 {
			t.Fatalf("report %d (%d/%d done, %v in): %v left, truly %v", i, r.Done, r.Total, r.Elapsed, r.Left, truth[i])
		}
	}
}
