package lab

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/nslab/nslab/kernel"
	"github.com/nslab/nslab/plan"
	"github.com/nslab/nslab/topology"
)

// changeMark is what the building marker holds while a running lab is
// being changed (a first build leaves it empty): the next up finishes
// the change instead of building the lab anew.
const changeMark = "change\n"

// keepPrevious saves the lab's file as it is before a change, unless an
// interrupted change kept it already.
func keepPrevious(name string) error {
	if mark, err := os.ReadFile(buildingFile(name)); err == nil && string(mark) == changeMark {
		if _, err := os.Stat(prevFile(name)); err == nil {
			return nil
		}
	}
	data, err := os.ReadFile(topologyFile(name))
	if err != nil {
		return fmt.Errorf("saving lab state: %w", err)
	}
	return writeAtomic(prevFile(name), data)
}

func writeAtomic(path string, data []byte) error {
	tmp := path + ".new"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return fmt.Errorf("saving lab state: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("saving lab state: %w", err)
	}
	return nil
}

// Faults returns the record of the faults in force in a running lab
// (cut cables, the partition, blocks, runtime shapes, a runner): none
// when there is no record or it cannot be read.
func Faults(name string) *plan.Faults { return readFaults(name) }

// readFaults reads the record of the faults in force; none when there
// is no record or it cannot be read.
func readFaults(name string) *plan.Faults {
	f := &plan.Faults{}
	data, err := os.ReadFile(faultsFile(name))
	if err == nil {
		json.Unmarshal(data, f)
	}
	return f
}

// writeFaults rewrites the record whole, atomically; no faults, no file.
func writeFaults(name string, f *plan.Faults) error {
	if f.Empty() {
		if err := os.Remove(faultsFile(name)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("saving lab state: %w", err)
		}
		return nil
	}
	data, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return err
	}
	return writeAtomic(faultsFile(name), append(data, '\n'))
}

// pruneFaults forgets the faults that a change of the lab undid.
func pruneFaults(t *topology.Lab, p *plan.Plan) error {
	f := readFaults(t.Name)
	if f.Empty() {
		return nil
	}
	pruneRecord(t, f, p)
	return writeFaults(t.Name, f)
}

// observeDrift adds to st what a change compares with the file besides
// the root namespace: the lab's nftables table, and with repair every
// node of the lab in full.
func observeDrift(c *kernel.Conn, name string, old, t *topology.Lab, st *kernel.State, repair bool, opt *Options) error {
	fw, ok, err := kernel.ObserveFirewall(name)
	if err != nil {
		return err
	}
	if ok {
		st.Firewall = fw
	}
	if keys := plan.HostSysctlKeys(t); len(keys) > 0 {
		st.HostSysctls = kernel.ReadSysctls(keys)
	}
	if !repair {
		replacedNodes(name, old, st)
		return nil
	}
	// The nodes that Observe listed but did not inspect: those of the
	// saved file. Their marks are read here, through the same handle.
	start := time.Now()
	var spaces []string
	keys := map[string][]string{}
	for _, n := range old.Nodes {
		ns := plan.NetnsName(name, n.Name)
		if st.Namespaces[ns] == kernel.Unknown {
			spaces = append(spaces, ns)
			if now := t.Node(n.Name); now != nil {
				keys[ns] = plan.SysctlKeys(now)
			}
		}
	}
	nodes, err := kernel.ObserveNodes(c, spaces, func(ns string) []string { return keys[ns] })
	if err != nil {
		return fmt.Errorf("lab %s: inspecting its nodes: %w", name, err)
	}
	st.Nodes = map[string]*kernel.NodeState{}
	for _, ns := range spaces {
		n := nodes[ns]
		if n == nil {
			if kernel.StaleNetns(ns) {
				st.Namespaces[ns], st.Stale[ns] = "", true
			} else if _, err := os.Lstat(kernel.NetnsPath(ns)); err != nil {
				delete(st.Namespaces, ns) // gone since
			} else {
				st.Namespaces[ns] = kernel.NetnsMark(ns)
			}
			continue
		}
		st.Namespaces[ns] = n.Mark
		if _, node, _ := plan.SplitNetnsName(ns); n.Mark == kernel.Marker(name, kernel.KindNode, node) {
			st.Nodes[ns] = n
		}
	}
	opt.timing("inspect", len(spaces), time.Since(start))
	return nil
}

// inspectTouched reads the mark of each namespace of the lab that the
// plan works in and that was not inspected: a node the change touches is
// checked to be the lab's before anything changes (a namespace someone
// else made under a node's name is a clash). It reports whether a mark
// is not the node's, and the plan must be made again.
func inspectTouched(name string, p *plan.Plan, st *kernel.State) bool {
	foreign := false
	prefix := plan.NetnsName(name, "")
	for _, s := range p.Stages {
		for _, op := range s.Ops {
			spaces := []string{op.Namespace()}
			if v, ok := op.(*kernel.VethAdd); ok {
				spaces = append(spaces, v.PeerNS)
			}
			for _, ns := range spaces {
				if strings.HasPrefix(ns, prefix) && st.Namespaces[ns] == kernel.Unknown {
					st.Namespaces[ns] = kernel.NetnsMark(ns)
					node := strings.TrimPrefix(ns, prefix)
					foreign = foreign || st.Namespaces[ns] != kernel.Marker(name, kernel.KindNode, node)
				}
			}
		}
	}
	return foreign
}

// RepairPlan is what up --repair would do to the machine as it is now:
// Plan with every node inspected. It changes nothing.
func RepairPlan(t *topology.Lab, source []byte) (p *plan.Plan, running bool, err error) {
	c := kernel.NewConn()
	defer c.Close()
	p, _, running, err = planFor(c, t, source, &Options{Repair: true})
	lossByNft(p)
	if errors.Is(err, errUnfinished) {
		return nil, true, fmt.Errorf("lab %s is running, but its last build did not finish: up would remove it and build it anew", t.Name)
	}
	return p, running, err
}
