package lab

import (
	"sync"
	"time"

	"github.com/nslab/nslab/kernel"
	"github.com/nslab/nslab/plan"
)

// Progress is what a long up or down reports as it goes (Options.Progress).
type Progress struct {
	// Stage is the stage of the plan being run (namespaces, links,
	// addresses, links up …).
	Stage string
	// Done and Total count the operations of the plan, and links up
	// while up waits for them.
	Done, Total int
	// Elapsed is the time since the plan began to be applied.
	Elapsed time.Duration
	// Left is the estimated time until the plan is done; 0 until enough
	// of it is done to tell.
	Left time.Duration
}

// stageCost is the relative cost of one operation of a stage, in
// microseconds of the 10,104-node leaf-spine build on the project's
// 2-core VM (up --timings: namespaces 9.6 s for 10,105 ops, links 12.1 s
// for 10,500, addresses 6.8 s for 10,900, routes 2.1 s for 41,424, the
// wait for links up 4.1 s for 10,500; down: the link group 0.43 s for
// 1,000 links). Only the ratios matter: the estimate scales them by the
// time the work done so far took.
var stageCost = map[string]float64{
	"namespaces": 950, "links": 1150, "addresses": 630, "routes": 52,
	linksUpStage: 390, "bridges": 310, "bridges up": 2600, "ports": 300,
	"sysctls": 300, "interfaces": 600, "bridges down": 600,
	"namespaces removed": 100, "links removed": 430,
}

// deleteCost is the cost of one link deleted with its lab's link group,
// and of a namespace unmounted by down.
const deleteCost, unmountCost = 430, 35

// linksUpStage names the wait for links up in a report.
const linksUpStage = "links up"

// minShare and minElapsed: no estimate of the time left before this share
// of the work is done and this much time has gone.
const (
	minShare   = 0.02
	minElapsed = 500 * time.Millisecond
)

// meter turns the operations of a plan, done one by one, into Progress
// reports with an estimate of the time left: the rest of the stage being
// run at the pace of its own operations so far, and the stages after it
// by their weight (stageCost) at the pace of all the work done so far.
type meter struct {
	mu         sync.Mutex
	report     func(Progress)
	now        func() time.Time
	start      time.Time
	work, done float64 // weighted
	ops, count int
	stageWork  map[string]float64
	stageOps   map[string]int
	// The stage being run: since when (the last operation of the stage
	// before it), its operations and work done.
	stage      string
	stageStart time.Time
	stageCount int
	stageDone  float64
	last       time.Time
}

// newMeter measures p; waitLinks is the number of links up waits for
// after the plan (0: none). report may be nil.
func newMeter(p *plan.Plan, waitLinks int, report func(Progress)) *meter {
	m := &meter{report: report, now: time.Now, stageWork: map[string]float64{}, stageOps: map[string]int{}}
	m.start = m.now()
	m.last = m.start
	for _, s := range p.Stages {
		for _, op := range s.Ops {
			m.stageWork[s.Name] += cost(s.Name, op)
		}
		m.stageOps[s.Name] += len(s.Ops)
	}
	m.stageWork[linksUpStage] += float64(waitLinks) * stageCost[linksUpStage]
	m.stageOps[linksUpStage] += waitLinks
	for name, w := range m.stageWork {
		m.work += w
		m.ops += m.stageOps[name]
	}
	return m
}

// cost is the weight of one operation of a stage.
func cost(stage string, op kernel.Op) float64 {
	switch o := op.(type) {
	case *kernel.LinkGroupDel:
		return deleteCost * float64(len(o.Names))
	case *kernel.NetnsDel:
		return unmountCost
	}
	if c, ok := stageCost[stage]; ok {
		return c
	}
	return 300
}

// tick counts one operation of a stage as done, and reports.
func (m *meter) tick(stage string, op kernel.Op) {
	if m != nil {
		m.add(stage, 1, cost(stage, op))
	}
}

// waited counts n links of the wait for links up as up, and reports.
func (m *meter) waited(n int) {
	if m != nil {
		m.add(linksUpStage, n, float64(n)*stageCost[linksUpStage])
	}
}

func (m *meter) add(stage string, ops int, work float64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	if stage != m.stage {
		m.stage, m.stageStart, m.stageCount, m.stageDone = stage, m.last, 0, 0
	}
	m.last = now
	m.count += ops
	m.done += work
	m.stageCount += ops
	m.stageDone += work
	if m.report != nil {
		m.report(Progress{Stage: stage, Done: m.count, Total: m.ops, Elapsed: now.Sub(m.start), Left: m.left(now)})
	}
}

// left estimates the time until the work is done; 0 when too little is
// done to tell.
func (m *meter) left(now time.Time) time.Duration {
	elapsed := now.Sub(m.start)
	if m.work <= 0 || m.done/m.work < minShare || elapsed < minElapsed || m.done >= m.work {
		return 0
	}
	pace := float64(elapsed) / m.done // per unit of work, all stages
	stageLeft := max(0, m.stageWork[m.stage]-m.stageDone)
	rest := max(0, m.work-m.done-stageLeft)
	stagePace := pace
	if took := now.Sub(m.stageStart); m.stageCount >= max(1, m.stageOps[m.stage]/50) && took >= minElapsed/5 {
		stagePace = float64(took) / m.stageDone
	}
	return time.Duration(stageLeft*stagePace + rest*pace)
}
