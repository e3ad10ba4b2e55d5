package lab

import (
	"fmt"
	"net/netip"
	"os"
	"strings"

	"github.com/nslab/nslab/topology"
)

// The host's resolver configuration: /etc/resolv.conf, and the upstream
// servers of systemd-resolved when the former names its loopback stub.
const (
	hostResolv     = "/etc/resolv.conf"
	resolvedResolv = "/run/systemd/resolve/resolv.conf"
)

// renderResolv writes the lab's resolv.conf. A lab with nat uses the
// host's upstream servers that its NAT reaches (IPv4 ones with nat, IPv6
// ones with nat6; never a loopback or link-local one, which is the host's
// own and out of a node's reach: for a stub such as 127.0.0.53 the
// upstreams come from resolved). Without nat, or with no server left, the
// file names no server: the resolver then asks 127.0.0.1 inside the node,
// where nothing listens unless the lab runs its own server, and a name
// the lab's hosts file lacks fails at once.
func renderResolv(t *topology.Lab, host, resolved []byte) []byte {
	var nat4, nat6 bool
	for _, b := range t.Bridges {
		nat4 = nat4 || b.NAT
		nat6 = nat6 || b.NAT6
	}
	var servers []netip.Addr
	if nat4 || nat6 {
		all := nameservers(host)
		for _, a := range all {
			if a.IsLoopback() {
				all = nameservers(resolved)
				break
			}
		}
		for _, a := range all {
			if a.IsLoopback() || a.IsLinkLocalUnicast() || a.IsUnspecified() || a.Zone() != "" || a.IsMulticast() {
				continue
			}
			if a.Is4() && nat4 || a.Is6() && nat6 {
				servers = append(servers, a)
			}
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# Written by nslab for lab %s. nslab up rewrites it.\n", t.Name)
	if len(servers) == 0 {
		b.WriteString("# No nameserver: the lab has no way out to one (nat), so a name that the\n" +
			"# lab's hosts file lacks fails at once (the resolver asks 127.0.0.1 in the node).\n")
	}
	for _, a := range servers[:min(len(servers), 3)] {
		fmt.Fprintf(&b, "nameserver %s\n", a)
	}
	b.WriteString("options timeout:1 attempts:2\n")
	return []byte(b.String())
}

// nameservers lists the servers of a resolv.conf.
func nameservers(conf []byte) []netip.Addr {
	var out []netip.Addr
	for line := range strings.Lines(string(conf)) {
		f := strings.Fields(line)
		if len(f) < 2 || f[0] != "nameserver" {
			continue
		}
		if a, err := netip.ParseAddr(f[1]); err == nil {
			out = append(out, a.Unmap())
		}
	}
	return out
}

// writeResolv writes the lab's resolv.conf, atomically and readable by
// every user: programs in nodes run as other users too.
func writeResolv(t *topology.Lab) error {
	host, _ := os.ReadFile(hostResolv)
	resolved, _ := os.ReadFile(resolvedResolv)
	tmp := ResolvFile(t.Name) + ".new"
	if err := os.WriteFile(tmp, renderResolv(t, host, resolved), 0o644); err != nil {
		return fmt.Errorf("writing the lab's resolv.conf: %w", err)
	}
	if err := os.Rename(tmp, ResolvFile(t.Name)); err != nil {
		return fmt.Errorf("writing the lab's resolv.conf: %w", err)
	}
	return nil
}
