package lab

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/nslab/nslab/kernel"
	"github.com/nslab/nslab/plan"
	"github.com/nslab/nslab/topology"
)

// homeFile holds the network namespace a lab's root side (bridges, host
// links, nftables table) was built in: the one nslab ran in then.
func homeFile(name string) string { return filepath.Join(labDir(name), "netns") }

// saveHome records that the lab's root side is in the namespace nslab
// runs in now.
func saveHome(name string) error {
	here, err := kernel.NetnsHere()
	if err != nil {
		return err
	}
	if err := os.WriteFile(homeFile(name), []byte(here+"\n"), 0o600); err != nil {
		return fmt.Errorf("saving lab state: %w", err)
	}
	return nil
}

// checkHome refuses to work on a running lab from a network namespace
// other than the one it was built in (nslab under unshare -n, or
// nsenter --net into a node): there nslab sees none of the lab's root
// side, and a change would remove every cable of the lab to build its
// bridges anew in the wrong place. A lab whose namespace is gone (built
// under an unshare -n that ended) has no root side left to find, and one
// built by an nslab that did not record it is taken as it is.
func checkHome(name string) error {
	data, err := os.ReadFile(homeFile(name))
	if err != nil {
		return nil
	}
	want := strings.TrimSpace(string(data))
	here, err := kernel.NetnsHere()
	if err != nil || here == want || !kernel.NetnsAlive(want) {
		return nil
	}
	return fmt.Errorf("lab %s was built in the network namespace %s, and nslab runs in %s (under unshare -n, ip netns exec or nsenter --net?): the lab's bridges, host links and nftables table are there, not here; run nslab in the namespace where the lab was built (nsenter --net=/proc/PID/ns/net of a process there, or outside the unshare)", name, want, here)
}

// nodesFile records the namespace of each node as the last up left it,
// by inode: a plain up compares them (a stat per node) to find a node
// whose name now holds another namespace (ip netns del, then add; or a
// bind mount over it), which it then inspects, and refuses as a clash.
func nodesFile(name string) string { return filepath.Join(labDir(name), "nodes.json") }

// saveNodes records the namespaces of t's nodes.
func saveNodes(t *topology.Lab) error {
	inodes := make(map[string]uint64, len(t.Nodes))
	for _, n := range t.Nodes {
		inodes[n.Name], _ = kernel.NetnsInode(plan.NetnsName(t.Name, n.Name))
	}
	data, err := json.Marshal(inodes)
	if err != nil {
		return err
	}
	return writeAtomic(nodesFile(t.Name), data)
}

// replacedNodes marks for inspection (its mark is read) each namespace of
// a node of old that is not the one the last up left at its name.
func replacedNodes(name string, old *topology.Lab, st *kernel.State) {
	data, err := os.ReadFile(nodesFile(name))
	if err != nil {
		return
	}
	var inodes map[string]uint64
	if json.Unmarshal(data, &inodes) != nil {
		return
	}
	for _, n := range old.Nodes {
		ns := plan.NetnsName(name, n.Name)
		was, ok := inodes[n.Name]
		if now, _ := kernel.NetnsInode(ns); ok && st.Namespaces[ns] == kernel.Unknown && now != was {
			st.Namespaces[ns] = kernel.NetnsMark(ns)
		}
	}
}
