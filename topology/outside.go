package topology

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// Publish forwards a port of the host to a port of a node, like
// docker run -p: connections to HostPort on any of the host's addresses
// (localhost included) reach Port on the node's address To.
type Publish struct {
	Proto    string // "tcp" or "udp"
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
	return fmt.Sprintf("%d:%d/%s", p.HostPort, p.Port, p.Proto)
}

// decodePublish reads a node's publish list: "HOSTPORT:PORT[/tcp|udp]".
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
	host, node, ok := strings.Cut(ports, ":")
	if !ok {
		return pub, fmt.Errorf("write HOSTPORT:PORT, as 8080:80 or 5353:53/udp")
	}
	var err error
	if pub.HostPort, err = port(host); err != nil {
		return pub, fmt.Errorf("host port: %v", err)
	}
	if pub.Port, err = port(node); err != nil {
		return pub, fmt.Errorf("node port: %v", err)
	}
	return pub, nil
}

func port(s string) (int, error) {
	if err := plainDecimal(s); err != nil {
		return 0, err
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > 65535 {
		return 0, fmt.Errorf("%q is not a port (1-65535)", s)
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
