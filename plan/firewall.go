package plan

import (
	"net/netip"
	"slices"

	"github.com/nslab/nslab/kernel"
	"github.com/nslab/nslab/topology"
)

// firewallOp is the lab's nftables table (see kernel.Firewall), or nil
// for a lab with no link in the root namespace, which the host's IP
// stack never sees.
func firewallOp(lab *topology.Lab) *kernel.Firewall {
	fw := &kernel.Firewall{Lab: lab.Name}
	for _, b := range lab.Bridges {
		name := BridgeName(lab.Name, b.Name)
		fw.Links = append(fw.Links, name)
		for _, a := range b.Addresses {
			fw.HostAddrs = append(fw.HostAddrs, a.Addr())
			if b.NAT && a.Addr().Is4() || b.NAT6 && a.Addr().Is6() {
				if !a.Addr().IsLinkLocalUnicast() {
					fw.Masquerade = append(fw.Masquerade, a.Masked())
				}
			}
		}
		if b.NAT || b.NAT6 {
			fw.Out = append(fw.Out, name)
		}
	}
	for _, i := range lab.Host {
		fw.Links = append(fw.Links, HostIfName(lab.Name, i.Name))
		for _, a := range i.Addresses {
			fw.HostAddrs = append(fw.HostAddrs, a.Addr())
		}
	}
	for _, n := range lab.Nodes {
		for _, p := range n.Publish {
			for _, to := range []netip.Addr{p.To, p.To6} {
				if to.IsValid() {
					fw.Publish = append(fw.Publish, kernel.Forward{Proto: p.Proto, HostPort: uint16(p.HostPort), To: to, Port: uint16(p.Port), Daddrs: publishOn(p, to, fw.HostAddrs)})
				}
			}
		}
	}
	if len(fw.Links) == 0 {
		return nil
	}
	return fw
}

// publishOn lists the host addresses of to's family a published port
// answers on: by default 127.0.0.1 and the lab's own host-side addresses
// (link-local ones aside), else the address the file names; nil for
// 0.0.0.0 and ::, every address of the host.
func publishOn(p topology.Publish, to netip.Addr, labAddrs []netip.Addr) []netip.Addr {
	switch {
	case p.HostIP.IsUnspecified():
		return nil
	case p.HostIP.IsValid():
		return []netip.Addr{p.HostIP}
	}
	// Not ::1: IPv6 never routes a packet from ::1 out of the host
	// (there is no route_localnet for IPv6), so it could not answer.
	var out []netip.Addr
	if to.Is4() {
		out = []netip.Addr{netip.AddrFrom4([4]byte{127, 0, 0, 1})}
	}
	for _, a := range labAddrs {
		if a.Is4() == to.Is4() && !a.IsLinkLocalUnicast() && !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	slices.SortFunc(out, netip.Addr.Compare) // as nft lists a set
	return out
}

// hostSysctlOps sets, on the lab's own links in the root namespace, what
// keeps the host the lab's master and what NAT and published ports need:
// bridges and host interfaces take no router advertisement from a node
// (accept_ra=0, besides the lab's table dropping them: a node must not
// route the host), a masquerading bridge forwards (IPv4 by interface;
// IPv6 by interface where the kernel has force_forwarding), and a link
// that leads to a published node lets connections from localhost through
// (route_localnet, as Docker does for docker0).
func hostSysctlOps(lab *topology.Lab) []kernel.Op {
	var set []kernel.Sysctl
	for _, i := range lab.Host {
		set = append(set, kernel.Sysctl{Key: "net.ipv6.conf." + HostIfName(lab.Name, i.Name) + ".accept_ra", Value: "0"})
	}
	for _, b := range lab.Bridges {
		name := BridgeName(lab.Name, b.Name)
		set = append(set, kernel.Sysctl{Key: "net.ipv6.conf." + name + ".accept_ra", Value: "0"})
		if b.NAT {
			set = append(set, kernel.Sysctl{Key: "net.ipv4.conf." + name + ".forwarding", Value: "1"})
		}
		if b.NAT6 {
			set = append(set, kernel.Sysctl{Key: "net.ipv6.conf." + name + ".force_forwarding", Value: "1"})
		}
	}
	via, fwd := map[string]bool{}, map[string]bool{}
	for _, n := range lab.Nodes {
		for _, p := range n.Publish {
			if p.Via == "" {
				continue
			}
			name := BridgeName(lab.Name, p.Via)
			if lab.Bridge(p.Via) == nil {
				name = HostIfName(lab.Name, p.Via)
			}
			if !via[p.Via] {
				via[p.Via] = true
				set = append(set, kernel.Sysctl{Key: "net.ipv4.conf." + name + ".route_localnet", Value: "1"})
			}
			// A port published on an address other machines may reach
			// is forwarded to the node: its replies are forwarded back.
			if p.HostIP.Is4() && !p.HostIP.IsLoopback() && !fwd[p.Via] && !natOn(lab, p.Via) {
				fwd[p.Via] = true
				set = append(set, kernel.Sysctl{Key: "net.ipv4.conf." + name + ".forwarding", Value: "1"})
			}
		}
	}
	if len(set) == 0 {
		return nil
	}
	return []kernel.Op{&kernel.SysctlSet{Settings: set}}
}

// natOn reports whether via is a bridge that masquerades IPv4, whose
// forwarding is on already.
func natOn(lab *topology.Lab, via string) bool {
	b := lab.Bridge(via)
	return b != nil && b.NAT
}
