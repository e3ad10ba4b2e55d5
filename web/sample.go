package web

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/nslab/nslab/kernel"
	"github.com/nslab/nslab/lab"
	"github.com/nslab/nslab/plan"
	"github.com/nslab/nslab/service"
	"github.com/nslab/nslab/topology"
)

// CableState is a cable as the kernel counts it, seen from its A end.
type CableState struct {
	Up bool `json:"up"`
	// AB and BA are the rates from A to B and back, in bytes a second
	// over the last sample.
	AB float64 `json:"ab"`
	BA float64 `json:"ba"`
	// The A end's counters (for a cable to a bridge, those of the node's
	// end as the bridge port mirrors them).
	TxBytes   uint64 `json:"tx_bytes"`
	RxBytes   uint64 `json:"rx_bytes"`
	TxPackets uint64 `json:"tx_packets"`
	RxPackets uint64 `json:"rx_packets"`
}

// LabState is what the page is sent of a lab every second.
type LabState struct {
	Name string `json:"name"`
	// Version changes when the lab's topology does: the page then fetches
	// its graph again.
	Version   string                 `json:"version"`
	Nodes     int                    `json:"nodes"`
	Cables    map[string]CableState  `json:"cables"`
	Faults    []string               `json:"faults,omitempty"`
	Cuts      []string               `json:"cuts,omitempty"`
	Partition [][]string             `json:"partition,omitempty"`
	Shapes    map[string]string      `json:"shapes,omitempty"`
	Services  []service.ServiceState `json:"services,omitempty"`
	Error     string                 `json:"error,omitempty"`
}

// Snapshot is every running lab at one time.
type Snapshot struct {
	Time time.Time  `json:"time"`
	Labs []LabState `json:"labs"`
	// Took is how long reading the kernel took, in milliseconds.
	Took float64 `json:"took_ms"`
}

// reading is where a cable's counters are read: a link of a namespace,
// and whether its rx is the A end's tx (a bridge port or a far end).
type reading struct {
	ns, name string
	mirror   bool
}

func readingOf(labName string, c *topology.Link) reading {
	switch c.Kind {
	case topology.Port:
		return reading{"", plan.PortName(labName, c.A.Node, c.A.Name), true}
	case topology.Trunk:
		return reading{"", plan.TrunkName(labName, c.Bridge.Name, "a"), false}
	}
	if c.A.OnHost() {
		return reading{"", plan.HostIfName(labName, c.A.Name), false}
	}
	return reading{plan.NetnsName(labName, c.A.Node), c.A.Name, false}
}

// cached is a lab's topology and graph, kept while its file is unchanged.
type cached struct {
	version string
	t       *topology.Lab
	g       *Graph
	reads   map[string]reading // by cable ID
	spaces  []string           // namespaces with cables' A ends
}

type counter struct {
	at     time.Time
	tx, rx uint64
}

// Sampler reads the labs' counters from the kernel: one dump of the root
// namespace's links and one per namespace that holds the A end of a
// node-to-node cable, all through the root namespace's socket (by netns
// id), so a 1000-node lab costs no more open files than a small one.
type Sampler struct {
	mu     sync.Mutex // one sample at a time; prev
	labsMu sync.Mutex // labs
	c      *kernel.Conn
	ids    *kernel.NsIDs
	labs   map[string]*cached
	prev   map[string]counter // by lab/cable
	Logf   func(string, ...any)
	names  func() ([]string, error)
}

// NewSampler returns a Sampler; Close releases its socket.
func NewSampler() *Sampler {
	return &Sampler{c: kernel.NewConn(), ids: kernel.NewNsIDs(), labs: map[string]*cached{}, prev: map[string]counter{}, names: lab.Names, Logf: func(string, ...any) {}}
}

// Close closes the socket.
func (s *Sampler) Close() { s.c.Close() }

func topologyVersion(name string) string {
	fi, err := os.Stat(filepath.Join(filepath.Dir(lab.JournalFile(name)), "topology.yaml"))
	if err != nil {
		return ""
	}
	return fi.ModTime().Format(time.RFC3339Nano)
}

// Graph returns the laid-out graph of a running lab, cached while its
// file is unchanged.
func (s *Sampler) Graph(name string) (*Graph, error) {
	c, err := s.lab(name)
	if err != nil {
		return nil, err
	}
	return c.g, nil
}

// lab returns the lab's cached topology and graph, made anew when its
// file changed. It takes labsMu alone, so a page's graph is not held up
// by a sample of the kernel.
func (s *Sampler) lab(name string) (*cached, error) {
	v := topologyVersion(name)
	s.labsMu.Lock()
	defer s.labsMu.Unlock()
	if c, ok := s.labs[name]; ok && c.version == v {
		return c, nil
	}
	t, err := lab.Topology(name)
	if err != nil {
		return nil, err
	}
	c := &cached{version: v, t: t, g: NewGraph(t), reads: map[string]reading{}}
	c.g.Version = v
	seen := map[string]bool{}
	for i, l := range t.Links {
		r := readingOf(name, l)
		c.reads[c.g.Cables[i].ID] = r
		if r.ns != "" && !seen[r.ns] {
			seen[r.ns] = true
			c.spaces = append(c.spaces, r.ns)
		}
	}
	s.labs[name] = c
	return c, nil
}

// Sample reads every running lab.
func (s *Sampler) Sample() Snapshot {
	s.mu.Lock()
	defer s.mu.Unlock()
	start := time.Now()
	snap := Snapshot{Time: start.UTC(), Labs: []LabState{}}
	names, err := s.names()
	if err != nil {
		s.Logf("listing labs: %v", err)
	}
	running := map[string]bool{}
	for _, n := range names {
		running[n] = true
	}
	s.labsMu.Lock()
	for n := range s.labs {
		if !running[n] {
			delete(s.labs, n)
		}
	}
	s.labsMu.Unlock()
	if err := s.ids.Refresh(func(ns string) bool {
		l, _, ok := plan.SplitNetnsName(ns)
		return ok && running[l]
	}); err != nil {
		s.Logf("%v", err)
	}
	root, err := s.c.Counters(s.ids, "")
	if err != nil {
		s.Logf("%v", err)
	}
	byNs := map[string]map[string]kernel.LinkCounters{"": index(root)}
	for _, n := range names {
		snap.Labs = append(snap.Labs, s.sampleLab(n, byNs, start))
	}
	snap.Took = float64(time.Since(start).Microseconds()) / 1000
	return snap
}

func index(lc []kernel.LinkCounters) map[string]kernel.LinkCounters {
	m := make(map[string]kernel.LinkCounters, len(lc))
	for _, l := range lc {
		m[l.Name] = l
	}
	return m
}

func (s *Sampler) sampleLab(name string, byNs map[string]map[string]kernel.LinkCounters, now time.Time) LabState {
	st := LabState{Name: name, Cables: map[string]CableState{}}
	c, err := s.lab(name)
	if err != nil {
		st.Error = err.Error()
		return st
	}
	st.Version, st.Nodes = c.version, len(c.t.Nodes)
	for _, ns := range c.spaces {
		if _, ok := byNs[ns]; ok {
			continue
		}
		lc, err := s.c.Counters(s.ids, ns)
		if err != nil {
			continue // a node being made or removed
		}
		byNs[ns] = index(lc)
	}
	for id, r := range c.reads {
		l, ok := byNs[r.ns][r.name]
		if !ok {
			st.Cables[id] = CableState{}
			continue
		}
		tx, rx, txp, rxp := l.TxBytes, l.RxBytes, l.TxPackets, l.RxPackets
		if r.mirror {
			tx, rx, txp, rxp = rx, tx, rxp, txp
		}
		cs := CableState{Up: l.Up, TxBytes: tx, RxBytes: rx, TxPackets: txp, RxPackets: rxp}
		key := name + "/" + id
		if p, ok := s.prev[key]; ok && now.After(p.at) && tx >= p.tx && rx >= p.rx {
			d := now.Sub(p.at).Seconds()
			cs.AB, cs.BA = float64(tx-p.tx)/d, float64(rx-p.rx)/d
		}
		s.prev[key] = counter{now, tx, rx}
		st.Cables[id] = cs
	}
	f := lab.Faults(name)
	st.Faults, st.Cuts, st.Partition = f.Describe(alive), f.Cuts, f.Partition
	for _, r := range f.Shapes {
		if st.Shapes == nil {
			st.Shapes = map[string]string{}
		}
		if r.Off {
			st.Shapes[r.Iface] = "off"
		} else {
			st.Shapes[r.Iface] = r.Shape().String()
		}
	}
	if svc, err := service.Read(name); err == nil {
		st.Services = svc.Services
	}
	return st
}

// alive reports whether a process runs with pid (a schedule's runner).
func alive(pid int) bool {
	_, err := os.Stat(fmt.Sprintf("/proc/%d", pid))
	return err == nil
}
