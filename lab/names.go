package lab

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
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
// the node, and IF.NODE at every address of that interface. The host's
// hostname comes last, at 127.0.1.1 as Debian does (see hostNames):
// until nodes have hostnames of their own they answer with the host's,
// and hostname -f or a server resolving its own name must not wait for
// DNS.
func renderHosts(t *topology.Lab) []byte {
	b := renderNodeHosts(t)
	if names := hostNames(); len(names) > 0 {
		fmt.Fprintf(b, "127.0.1.1\t%s\n", strings.Join(names, " "))
	}
	return []byte(b.String())
}

// hostNames returns the host's hostname as /etc/hosts of the host gives
// it, canonical name first ("vm.example.com vm"), or the hostname alone.
func hostNames() []string {
	name, err := os.Hostname()
	if err != nil || name == "" {
		return nil
	}
	data, _ := os.ReadFile("/etc/hosts")
	return hostNamesIn(name, data)
}

// hostNamesIn finds name in a hosts file: the names of its first line,
// or name alone.
func hostNamesIn(name string, hosts []byte) []string {
	for line := range strings.Lines(string(hosts)) {
		line, _, _ = strings.Cut(line, "#")
		f := strings.Fields(line)
		if len(f) > 1 && slices.Contains(f[1:], name) && !slices.Contains(f[1:], "localhost") {
			return f[1:]
		}
	}
	return []string{name}
}

func renderNodeHosts(t *topology.Lab) *strings.Builder {
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
	return &b
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
	if err := os.WriteFile(tmp, []byte(t.Assignments().String()+"\n"), 0o600); err != nil {
		return fmt.Errorf("saving lab state: %w", err)
	}
	if err := os.Rename(tmp, assignedFile(t.Name)); err != nil {
		return fmt.Errorf("saving lab state: %w", err)
	}
	return nil
}

// writeNames writes the lab's hosts file and resolv.conf, atomically.
func writeNames(t *topology.Lab) error {
	if err := writeResolv(t); err != nil {
		return err
	}
	tmp := HostsFile(t.Name) + ".new"
	if err := os.WriteFile(tmp, renderHosts(t), 0o644); err != nil {
		return fmt.Errorf("writing the lab's hosts file: %w", err)
	}
	if err := os.Rename(tmp, HostsFile(t.Name)); err != nil {
		return fmt.Errorf("writing the lab's hosts file: %w", err)
	}
	return nil
}
