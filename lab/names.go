package lab

import (
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/nslab/nslab/topology"
)

// renderHosts writes a hosts(5) file in which every node of the lab is
// known. A node's first IPv4 and first IPv6 address carry its names,
// canonical first (glibc takes the first name of the matching line as the
// canonical one, which hostname -f prints): HOSTNAME.LAB, HOSTNAME, then
// NODE.LAB and NODE when the hostname differs, then IF.NODE; every other
// address carries IF.NODE alone. A node without any address has its names
// at 127.0.1.1, its own loopback, so that hostname -f answers at once.
// The host's hostname is not in it: a node answers to its own, and the
// host's is a name like any other outside the lab.
func renderHosts(t *topology.Lab) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "# Written by nslab for lab %s: every node by name. nslab up rewrites it.\n", t.Name)
	b.WriteString("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n")
	for _, n := range t.Nodes {
		names := nodeNames(t.Name, n)
		var named [2]bool
		for _, i := range n.Interfaces {
			for _, a := range i.Addresses {
				f := 0
				if a.Addr().Is6() {
					f = 1
				}
				fmt.Fprintf(&b, "%s\t", a.Addr())
				if !named[f] {
					named[f] = true
					fmt.Fprintf(&b, "%s ", names)
				}
				fmt.Fprintf(&b, "%s.%s\n", i.Name, n.Name)
			}
		}
		if !named[0] && !named[1] {
			fmt.Fprintf(&b, "127.0.1.1\t%s\n", names)
		}
	}
	return []byte(b.String())
}

// nodeNames are a node's names in its hosts line, canonical first: its
// fully qualified hostname (HOSTNAME.LAB, or a hostname with dots as it
// is), its hostname, and its node name qualified and not.
func nodeNames(lab string, n *topology.Node) string {
	h := n.HostnameOf()
	fqdn := h + "." + lab
	if strings.Contains(h, ".") {
		fqdn = h
	}
	names := []string{fqdn, h}
	for _, s := range []string{n.Name + "." + lab, n.Name} {
		if !slices.Contains(names, s) {
			names = append(names, s)
		}
	}
	return strings.Join(names, " ")
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
