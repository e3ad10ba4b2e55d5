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
	// Unknown says the cable's end was not found in this sample (being
	// made or removed): neither up nor down.
	Unknown bool `json:"unknown,omitempty"`
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

// LabName is a running lab in the page's tabs.
type LabName struct {
	Name string `json:"name"`
	// Nodes is the lab's number of nodes, once its file was read (0
	// before: a lab no page has looked at is not read).
	Nodes int `json:"nodes"`
}

// Snapshot is the running labs at one time: their names, and the state
// of those asked for.
type Snapshot struct {
	Time  time.Time  `json:"time"`
	Names []LabName  `json:"labs"`
	Labs  []LabState `json:"states"`
	// Took is how long reading the kernel took, in milliseconds.
	Took float64 `json:"took_ms"`
}

// reading is where a cable's counters are read: a link of a namespace,
// and whether its rx is the A end's tx (a bridge port or a far end).
type reading struct {
	ns, name string
	mirror   bool
	// single is a root link that is no bridge's port (a host interface):
	// read by its name.
	single bool
}

func readingOf(labName string, c *topology.Link) reading {
	switch c.Kind {
	case topology.Port:
		return reading{"", plan.PortName(labName, c.A.Node, c.A.Name), true, false}
	case topology.Trunk:
		return reading{"", plan.TrunkName(labName, c.Bridge.Name, "a"), false, false}
	}
	if c.A.OnHost() {
		return reading{"", plan.HostIfName(labName, c.A.Name), false, true}
	}
	return reading{plan.NetnsName(labName, c.A.Node), c.A.Name, false, false}
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

// Sampler reads the labs' counters from the kernel: a dump of the ports
// of each of a lab's bridges (filtered by the kernel), one per namespace
// that holds the A end of a node-to-node cable (by its netns id), all
// through one socket in the root namespace, so a 1000-node lab costs no
// more open files than a small one.
type Sampler struct {
	mu     sync.Mutex      // one sample at a time; prev
	labsMu sync.Mutex      // labs
	c      *kernel.Counter // nil until opened
	ids    *kernel.NsIDs
	labs   map[string]*cached
	prev   map[string]counter // by lab/cable
	Logf   func(string, ...any)
	names  func() ([]string, error)
}

// NewSampler returns a Sampler; Close releases its socket.
func NewSampler() *Sampler {
	return &Sampler{ids: kernel.NewNsIDs(), labs: map[string]*cached{}, prev: map[string]counter{}, names: lab.Names, Logf: func(string, ...any) {}}
}

// Close closes the socket.
func (s *Sampler) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.c != nil {
		s.c.Close()
		s.c = nil
	}
}

// counter opens the socket on first use.
func (s *Sampler) counter() (*kernel.Counter, error) {
	if s.c != nil {
		return s.c, nil
	}
	c, err := kernel.NewCounter()
	if err == nil {
		s.c = c
	}
	return c, err
}

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
	c, ok := s.labs[name]
	s.labsMu.Unlock()
	if ok && c.version == v {
		return c, nil
	}
	// Read and laid out without the lock: another lab's page does not
	// wait for this one's file.
	t, err := lab.Topology(name)
	if err != nil {
		return nil, err
	}
	c = &cached{version: v, t: t, g: NewGraph(t), reads: map[string]reading{}}
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
	s.labsMu.Lock()
	s.labs[name] = c
	s.labsMu.Unlock()
	return c, nil
}

// Sample lists the running labs and reads the state of those of want
// that run: only theirs, so a page that shows one lab does not wait for
// the others (another lab of 10,000 nodes on the machine costs a listing).
func (s *Sampler) Sample(want ...string) Snapshot {
	s.mu.Lock()
	defer s.mu.Unlock()
	start := time.Now()
	snap := Snapshot{Time: start.UTC(), Names: []LabName{}, Labs: []LabState{}}
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
	for _, n := range names {
		ln := LabName{Name: n}
		if c, ok := s.labs[n]; ok {
			ln.Nodes = len(c.t.Nodes)
		}
		snap.Names = append(snap.Names, ln)
	}
	s.labsMu.Unlock()
	watched := map[string]bool{}
	for _, n := range want {
		if running[n] {
			watched[n] = true
		}
	}
	if len(watched) == 0 {
		snap.Took = float64(time.Since(start).Microseconds()) / 1000
		return snap
	}
	if err := s.ids.Refresh(func(ns string) bool {
		l, _, ok := plan.SplitNetnsName(ns)
		return ok && watched[l]
	}); err != nil {
		s.Logf("%v", err)
	}
	if _, err := s.counter(); err != nil {
		s.Logf("%v", err)
		snap.Took = float64(time.Since(start).Microseconds()) / 1000
		return snap
	}
	byNs := map[string]map[string]kernel.LinkCounters{"": {}}
	for _, n := range names {
		if watched[n] {
			snap.Labs = append(snap.Labs, s.sampleLab(n, byNs, start))
		}
	}
	for i, ln := range snap.Names {
		for _, st := range snap.Labs {
			if st.Name == ln.Name {
				snap.Names[i].Nodes = st.Nodes
			}
		}
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
	// The root namespace's links of the lab: its bridges' ports (bridge
	// ports and trunk ends, picked out by the kernel) and its host
	// interfaces, each asked for by name.
	root := byNs[""]
	for _, b := range c.t.Bridges {
		ports, err := s.c.Ports(plan.BridgeName(name, b.Name))
		if err != nil {
			s.Logf("lab %s: bridge %s: %v", name, b.Name, err)
		}
		for _, p := range ports {
			root[p.Name] = p
		}
	}
	for _, r := range c.reads {
		if _, ok := root[r.name]; ok || r.ns != "" || !r.single {
			continue
		}
		if l, err := s.c.Link(r.name); err == nil && l != nil {
			root[r.name] = *l
		}
	}
	for _, ns := range c.spaces {
		if _, ok := byNs[ns]; ok {
			continue
		}
		lc, err := s.c.Links(s.ids, ns)
		if err != nil {
			continue // a node being made or removed
		}
		byNs[ns] = index(lc)
	}
	for id, r := range c.reads {
		l, ok := byNs[r.ns][r.name]
		if !ok {
			st.Cables[id] = CableState{Unknown: true}
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
