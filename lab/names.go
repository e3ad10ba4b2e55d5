package lab

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"

	"github.com/nslab/nslab/topology"
)

// HostsFile is the lab's hosts file: every node by name, and each of its
// interfaces as IF.NODE, at its addresses. nslab exec and nslab shell
// bind it over /etc/hosts in the lab's nodes, unless the node has a hosts
// file of its own in /etc/netns/LAB.NODE/ (which wins, as with ip netns
// exec). Keeping one file in the lab's state, rather than one per node
// under /etc, costs nothing per node: writing 1000 links under /etc took
// 0.15 s of up and 0.2 s of down.
func HostsFile(name string) string { return filepath.Join(labDir(name), "hosts") }

// renderHosts writes a hosts(5) file in which every node of the lab is
// known: NODE and NODE.LAB at the first IPv4 and first IPv6 address of
// the node, and IF.NODE at every address of that interface.
func renderHosts(t *topology.Lab) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "# Written by nslab for lab %s: every node by name. nslab up rewrites it.\n", t.Name)
	b.WriteString("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n")
	for _, n := range t.Nodes {
		var named [2]bool
		for _, i := range n.Interfaces {
			for _, a := range i.Addresses {
				f := 0
				if a.Addr().Is6() {
					f = 1
				}
				fmt.Fprintf(&b, "%s\t%s.%s", a.Addr(), i.Name, n.Name)
				if !named[f] {
					named[f] = true
					fmt.Fprintf(&b, " %s %s.%s", n.Name, n.Name, t.Name)
				}
				b.WriteByte('\n')
			}
		}
	}
	return []byte(b.String())
}

// assignedFile keeps the addresses nslab chose for a running lab, one
// member per line: "MEMBER ADDR,ADDR".
func assignedFile(name string) string { return filepath.Join(labDir(name), "assigned") }

// savedAssignments reads them; a missing or unreadable file is none.
func savedAssignments(name string) topology.Assignments {
	b, err := os.ReadFile(assignedFile(name))
	if err != nil {
		return nil
	}
	a := topology.Assignments{}
	for _, line := range strings.Split(string(b), "\n") {
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		for _, s := range strings.Split(line[i+1:], ",") {
			if pfx, err := netip.ParsePrefix(s); err == nil {
				a[line[:i]] = append(a[line[:i]], pfx)
			}
		}
	}
	return a
}

// saveAssignments writes them, atomically.
func saveAssignments(t *topology.Lab) error {
	tmp := assignedFile(t.Name) + ".new"
	if err := os.WriteFile(tmp, []byte(t.Assignments().String()+"\n"), 0o644); err != nil {
		return fmt.Errorf("saving lab state: %w", err)
	}
	if err := os.Rename(tmp, assignedFile(t.Name)); err != nil {
		return fmt.Errorf("saving lab state: %w", err)
	}
	return nil
}

// writeNames writes the lab's hosts file, atomically.
func writeNames(t *topology.Lab) error {
	tmp := HostsFile(t.Name) + ".new"
	if err := os.WriteFile(tmp, renderHosts(t), 0o644); err != nil {
		return fmt.Errorf("writing the lab's hosts file: %w", err)
	}
	if err := os.Rename(tmp, HostsFile(t.Name)); err != nil {
		return fmt.Errorf("writing the lab's hosts file: %w", err)
	}
	return nil
}
