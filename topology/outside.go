package topology

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// Publish forwards a port of the host to a port of a node, like
// docker run -p: connections to HostPort reach Port on the node's address
// To. By default the port answers on the host's loopback addresses and
// on the lab's own host-side addresses only; HostIP names the one host
// address it answers on instead, 0.0.0.0 meaning every IPv4 address of the
// host and :: every IPv6 one.
type Publish struct {
	Proto    string // "tcp" or "udp"
	HostIP   netip.Addr
	HostPort int
	Port     int
	// To is the node's address that the host reaches, by family (IPv4
	// first); To6 is its IPv6 address, if any (set by validation).
	To, To6 netip.Addr
	// Via is the host-side link the node is reached over: a bridge's name
	// or a host interface's.
	Via string
	Pos Pos
}

func (p Publish) String() string {
	switch {
	case p.HostIP.Is6():
		return fmt.Sprintf("[%s]:%d:%d/%s", p.HostIP, p.HostPort, p.Port, p.Proto)
	case p.HostIP.IsValid():
		return fmt.Sprintf("%s:%d:%d/%s", p.HostIP, p.HostPort, p.Port, p.Proto)
	}
	return fmt.Sprintf("%d:%d/%s", p.HostPort, p.Port, p.Proto)
}

// decodePublish reads a node's publish list:
// "[IP:]HOSTPORT:PORT[/tcp|udp]", an IPv6 address in brackets.
func decodePublish(p *parser, d *nodeDecl, e entry, path string) {
	for i, n := range p.list(e.val, path, true) {
		if n = p.deref(n); n == nil {
			continue
		}
		s, pos, ok := p.str(n, listPath(path, i))
		if !ok {
			continue
		}
		pub, err := parsePublish(s)
		if err != nil {
			p.errorf(pos, "publish %q: %v", s, err)
			continue
		}
		pub.Pos = pos
		d.n.Publish = append(d.n.Publish, pub)
	}
}

func parsePublish(s string) (Publish, error) {
	pub := Publish{Proto: "tcp"}
	ports := s
	if i := strings.IndexByte(s, '/'); i >= 0 {
		ports, pub.Proto = s[:i], s[i+1:]
		if pub.Proto != "tcp" && pub.Proto != "udp" {
			return pub, fmt.Errorf("protocol %q: write tcp or udp (HOSTPORT:PORT/udp)", pub.Proto)
		}
	}
	ip, ports, err := cutHostIP(ports)
	if err != nil {
		return pub, err
	}
	pub.HostIP = ip
	host, node, ok := strings.Cut(ports, ":")
	if !ok || strings.Contains(node, ":") {
		return pub, fmt.Errorf("write [IP:]HOSTPORT:PORT, as 8080:80, 5353:53/udp, 0.0.0.0:8080:80 or [::]:8080:80")
	}
	if pub.HostPort, err = port(host); err != nil {
		return pub, fmt.Errorf("host port: %v", err)
	}
	if pub.Port, err = port(node); err != nil {
		return pub, fmt.Errorf("node port: %v", err)
	}
	return pub, nil
}

// cutHostIP splits off the host address of IP:HOSTPORT:PORT or
// [IPv6]:HOSTPORT:PORT; HOSTPORT:PORT has none.
func cutHostIP(s string) (netip.Addr, string, error) {
	var ip, rest string
	if strings.HasPrefix(s, "[") {
		end := strings.Index(s, "]:")
		if end < 0 {
			return netip.Addr{}, s, fmt.Errorf("an IPv6 address is written [ADDRESS]:HOSTPORT:PORT, as [2001:db8::1]:8080:80")
		}
		ip, rest = s[1:end], s[end+2:]
	} else {
		parts := strings.Split(s, ":")
		switch {
		case len(parts) <= 2:
			return netip.Addr{}, s, nil
		case len(parts) > 3 && strings.Contains(parts[0], "."):
			return netip.Addr{}, s, fmt.Errorf("write [IP:]HOSTPORT:PORT, as 127.0.0.1:8080:80")
		case len(parts) > 3:
			return netip.Addr{}, s, fmt.Errorf("write an IPv6 host address in brackets, as [2001:db8::1]:8080:80")
		}
		ip, rest = parts[0], parts[1]+":"+parts[2]
	}
	a, err := netip.ParseAddr(ip)
	switch {
	case err != nil:
		return a, rest, fmt.Errorf("host address %q is not an IP address (write 127.0.0.1:8080:80, 0.0.0.0:8080:80 or [::]:8080:80)", ip)
	case a.Zone() != "":
		return a, rest, fmt.Errorf("host address %s: a zone (%%%s) is not allowed; publish on a global or loopback address", a, a.Zone())
	case a.Is4In6():
		return a, rest, fmt.Errorf("host address %s: write the IPv4 address as such (%s)", a, a.Unmap())
	case a.Is6() && !strings.HasPrefix(s, "["):
		return a, rest, fmt.Errorf("write an IPv6 host address in brackets, as [%s]:%s", a, rest)
	case a.Is4() && strings.HasPrefix(s, "["):
		return a, rest, fmt.Errorf("write an IPv4 host address without brackets, as %s:%s", a, rest)
	case a == netip.IPv6Loopback():
		return a, rest, fmt.Errorf("host address ::1: IPv6 does not route a connection from ::1 to a node, so nothing would answer there; publish on 127.0.0.1, [::] or the lab's IPv6 host address")
	case a.IsMulticast() || a.IsLinkLocalUnicast():
		return a, rest, fmt.Errorf("host address %s is %s: publish on an address of the host, 0.0.0.0 or ::", a, kindOf(a))
	}
	return a, rest, nil
}

func kindOf(a netip.Addr) string {
	if a.IsMulticast() {
		return "multicast"
	}
	return "link-local"
}

// port reads a port number written plainly: digits, no sign and no
// leading zero (018090 is not read as 18090, nor +18090).
func port(s string) (int, error) {
	if lo, hi, ok := strings.Cut(s, "-"); ok && isDecimal(lo) && isDecimal(hi) {
		return 0, fmt.Errorf("%s is a range of ports, which publish does not take: publish each port on its own (\"8080:80\", \"8081:81\")", short(s))
	}
	if err := plainDecimal(s); err != nil {
		return 0, err
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > 65535 || s != strconv.Itoa(n) {
		return 0, fmt.Errorf("%q is not a port (1-65535, written without sign or leading zeros)", s)
	}
	return n, nil
}

// checkOutside checks NAT and published ports: a bridge that masquerades
// has addresses on the host side to be the nodes' gateway; a published
// port leads to a node the host reaches, and is published once per
// protocol in the lab.
func (p *parser) checkOutside() {
	for _, d := range p.bridges {
		b := d.b
		if (b.NAT || b.NAT6) && len(b.Addresses) == 0 {
			p.errorf(d.natPos, "bridge %s masquerades (nat), but has no address on the host side to be the nodes' gateway: add gateway: true (with subnets) or addresses", b.Name)
		}
		if b.NAT6 && !hasFamily(b.Addresses, 1) {
			p.errorf(d.natPos, "bridge %s masquerades IPv6 (nat6), but has no IPv6 address on the host side: add an IPv6 subnet or address", b.Name)
		}
	}
	hostOn := map[int]string{} // segment index -> the host link on it
	segs := p.lab.Segments()
	for i, s := range segs {
		for _, m := range s.Members {
			if m.Node == HostNode {
				hostOn[i] = m.Dev
			}
		}
	}
	type key struct {
		proto string
		port  int
	}
	seen := map[key]Pos{}
	for _, n := range p.lab.Nodes {
		for i := range n.Publish {
			pub := &n.Publish[i]
			k := key{pub.Proto, pub.HostPort}
			if first, dup := seen[k]; dup {
				p.errorf(pub.Pos, "host port %d/%s is published twice in the lab (first at %s)", pub.HostPort, pub.Proto, first)
				continue
			}
			seen[k] = pub.Pos
			p.publishTarget(n, pub, segs, hostOn)
			p.publishFamily(n, pub)
		}
	}
}

// publishTarget finds the node's addresses on a segment the host is on.
func (p *parser) publishTarget(n *Node, pub *Publish, segs []Segment, hostOn map[int]string) {
	for i, s := range segs {
		via, ok := hostOn[i]
		if !ok {
			continue
		}
		for _, m := range s.Members {
			if m.Node != n.Name {
				continue
			}
			for _, a := range m.Addresses {
				switch {
				case a.Addr().IsLinkLocalUnicast():
				case a.Addr().Is4() && !pub.To.IsValid():
					pub.To, pub.Via = a.Addr(), via
				case a.Addr().Is6() && !pub.To6.IsValid():
					pub.To6 = a.Addr()
					if pub.Via == "" {
						pub.Via = via
					}
				}
			}
			if pub.To.IsValid() || pub.To6.IsValid() {
				return
			}
		}
	}
	p.errorf(pub.Pos, "node %s publishes port %d, but the host cannot reach it: put the node on a bridge with addresses on the host side (or gateway: true), or on a host interface", n.Name, pub.Port)
}

// publishFamily keeps of a port published on one host address, or on
// all of one family (0.0.0.0, ::), the node's address of that family.
func (p *parser) publishFamily(n *Node, pub *Publish) {
	switch {
	case !pub.HostIP.IsValid() || !pub.To.IsValid() && !pub.To6.IsValid():
	case pub.HostIP.Is4() && !pub.To.IsValid():
		p.errorf(pub.Pos, "node %s publishes port %d on the IPv4 address %s, but the host reaches it over IPv6 only: publish on an IPv6 address ([::]:%d:%d) or give the node an IPv4 address", n.Name, pub.Port, pub.HostIP, pub.HostPort, pub.Port)
	case pub.HostIP.Is6() && !pub.To6.IsValid():
		p.errorf(pub.Pos, "node %s publishes port %d on the IPv6 address %s, but the host reaches it over IPv4 only: publish on an IPv4 address (0.0.0.0:%d:%d) or give the node an IPv6 address", n.Name, pub.Port, pub.HostIP, pub.HostPort, pub.Port)
	case pub.HostIP.Is4():
		pub.To6 = netip.Addr{}
	default:
		pub.To = netip.Addr{}
	}
}
