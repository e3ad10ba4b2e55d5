package kernel

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// Firewall is a lab's nftables table, inet family, named TableName(lab):
// it keeps labs apart from each other and from the host, masquerades what
// leaves the lab where the file asks, and forwards published ports. It is
// the lab's only object in nftables; nslab never touches another table.
//
// Equivalent to: nft -f (see String)
type Firewall struct {
	Lab string
	// Links are the kernel names of the lab's links in the root namespace
	// that carry its IP traffic: bridges and host interfaces.
	Links []string
	// HostAddrs are the lab's own addresses on the host (bridges, host
	// interfaces): the only host addresses the lab's nodes may reach.
	HostAddrs []netip.Addr
	// Masquerade lists subnets whose traffic leaving the lab through the
	// host is masqueraded, and which may leave at all; Out the links they
	// leave from.
	Masquerade []netip.Prefix
	Out        []string
	// Publish forwards host ports to nodes.
	Publish []Forward
}

// Forward is one published port.
type Forward struct {
	Proto    string // tcp or udp
	HostPort uint16
	To       netip.Addr
	Port     uint16
	// Daddrs are the host addresses, of To's family, the port answers
	// on; none means every local address of the host (fib daddr type
	// local) of that family.
	Daddrs []netip.Addr
}

// match renders the destination a forward answers on.
func (f Forward) match() string {
	if len(f.Daddrs) == 0 {
		return fmt.Sprintf("meta nfproto %s fib daddr type local", map[bool]string{true: "ipv4", false: "ipv6"}[f.To.Is4()])
	}
	s := make([]string, len(f.Daddrs))
	for i, a := range f.Daddrs {
		s[i] = a.String()
	}
	if len(s) == 1 {
		return fmt.Sprintf("%s daddr %s", ipWord(f.To), s[0])
	}
	return fmt.Sprintf("%s daddr { %s }", ipWord(f.To), strings.Join(s, ", "))
}

func (o *Firewall) Namespace() string { return "" }

func (o *Firewall) String() string {
	var b strings.Builder
	t := TableName(o.Lab)
	fmt.Fprintf(&b, "nft -f - <<'EOF'\ntable inet %s\ndelete table inet %s\ntable inet %s {\n", t, t, t)
	fmt.Fprintf(&b, "  chain %s {}\n", ownerChain(o.Lab))
	fmt.Fprintf(&b, "  set links { type ifname; elements = { %s } }\n", strings.Join(o.Links, ", "))
	b.WriteString("  chain forward { type filter hook forward priority 0; policy accept;\n")
	b.WriteString("    iifname @links oifname @links accept\n    oifname @links ct state established,related accept\n    oifname @links ct status dnat accept\n    iifname @links ct state established,related accept\n")
	for _, l := range o.Out {
		fmt.Fprintf(&b, "    iifname %s oifname != { %s } accept\n", l, prefixGlobs())
	}
	b.WriteString("    iifname @links drop\n    oifname @links drop\n  }\n")
	b.WriteString("  chain input { type filter hook input priority 0; policy accept;\n    iifname @links ct state established,related accept\n")
	for _, a := range o.HostAddrs {
		fmt.Fprintf(&b, "    iifname @links %s daddr %s accept\n", ipWord(a), a)
	}
	names := make([]string, len(segmentICMPv6))
	for i, t := range segmentICMPv6 {
		names[i] = t.name
	}
	fmt.Fprintf(&b, "    iifname @links icmpv6 type { %s } accept\n", strings.Join(names, ", "))
	b.WriteString("    iifname @links drop\n  }\n")
	for _, hook := range []string{"prerouting", "output"} {
		fmt.Fprintf(&b, "  chain %s { type nat hook %s priority -100;\n", hook, hook)
		for _, f := range o.Publish {
			fmt.Fprintf(&b, "    %s %s dport %d dnat %s to %s\n", f.match(), f.Proto, f.HostPort, ipWord(f.To), netip.AddrPortFrom(f.To, f.Port))
		}
		b.WriteString("  }\n")
	}
	b.WriteString("  chain postrouting { type nat hook postrouting priority 100;\n")
	for _, p := range o.Masquerade {
		fmt.Fprintf(&b, "    %s saddr %s oifname != @links masquerade\n", ipWord(p.Addr()), p)
	}
	if len(o.Publish) > 0 {
		b.WriteString("    ip saddr 127.0.0.0/8 oifname @links masquerade\n")
	}
	b.WriteString("  }\n}\nEOF")
	return b.String()
}

func ipWord(a netip.Addr) string {
	if a.Is4() {
		return "ip"
	}
	return "ip6"
}

// segmentICMPv6 are the only messages a lab's links may send the host
// besides what goes to the lab's own host addresses: what IPv6 needs to
// work on a segment (neighbour discovery, router solicitation,
// multicast listener discovery). Not router advertisements: the host,
// which accepts them by default when it does not forward, would take
// routes (a default route, too) from any node. Everything else to the
// host's link-local or multicast addresses, and IPv4 broadcast and
// multicast (mDNS, DHCP, SSDP), is dropped: a lab sealed off from the
// host does not reach its services that way. ARP is not IP and passes.
var segmentICMPv6 = []struct {
	typ  byte
	name string
}{
	{130, "mld-listener-query"}, {131, "mld-listener-report"}, {132, "mld-listener-done"},
	{133, "nd-router-solicit"},
	{135, "nd-neighbor-solicit"}, {136, "nd-neighbor-advert"},
	{143, "mld2-listener-report"},
}

// FirewallDel deletes a lab's table, if it is there and nslab's.
//
// Equivalent to: nft delete table inet nslab-LAB
type FirewallDel struct{ Lab string }

func (o *FirewallDel) Namespace() string { return "" }

func (o *FirewallDel) String() string { return "nft delete table inet " + TableName(o.Lab) }

// Equal reports whether two observations of a table are alike; nil is
// like nothing.
func (s *FirewallSeen) Equal(x *FirewallSeen) bool {
	if s == nil || x == nil {
		return false
	}
	if s.Present != x.Present || !slices.Equal(s.Links, x.Links) || len(s.Rules) != len(x.Rules) {
		return false
	}
	for ch, rules := range s.Rules {
		if other, ok := x.Rules[ch]; !ok || !slices.Equal(rules, other) {
			return false
		}
	}
	return true
}

// prefixGlobs renders NamePrefixes as nft interface globs:
// "nb-*", "np-*", …
func prefixGlobs() string {
	var globs []string
	for _, p := range NamePrefixes() {
		globs = append(globs, fmt.Sprintf("%q", p+"*"))
	}
	return strings.Join(globs, ", ")
}
