package capture

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"

	"golang.org/x/net/bpf"
)

// Compile turns a tcpdump-style filter expression on Ethernet frames into
// a classic BPF program that returns snaplen for a packet that matches
// and 0 for one that does not. An empty expression matches everything.
//
// It knows a useful subset of pcap-filter(7): the protocols ether, ip,
// ip6, arp, icmp, icmp6, tcp and udp; [src|dst] host ADDR (IPv4 or IPv6;
// for IPv4 also the addresses of ARP packets); [src|dst] net CIDR;
// [tcp|udp] [src|dst] port N; ether [src|dst] host MAC; joined with
// and/&&, or/||, not/! and parentheses. names maps a name (a lab node) to
// its addresses: "host h2" stands for each address of h2. Anything else
// is an error that says what is supported.
func Compile(expr string, snaplen uint32, names map[string][]netip.Addr) ([]bpf.RawInstruction, error) {
	p := &parser{toks: tokenize(expr), names: names}
	c := &codegen{}
	T, F := c.label(), c.label()
	if len(p.toks) == 0 {
		c.emit(bpf.RetConstant{Val: snaplen})
		return c.assemble()
	}
	e, err := p.expr()
	if err != nil {
		return nil, fmt.Errorf("filter %q: %w", expr, err)
	}
	if p.pos < len(p.toks) {
		return nil, fmt.Errorf("filter %q: unexpected %q; join primitives with and, or, not", expr, p.toks[p.pos])
	}
	e.gen(c, T, F)
	c.place(T)
	c.emit(bpf.RetConstant{Val: snaplen})
	c.place(F)
	c.emit(bpf.RetConstant{Val: 0})
	return c.assemble()
}

// Supported lists what Compile knows, for error messages and help.
const Supported = "ether, ip, ip6, arp, icmp, icmp6, tcp, udp, [src|dst] host ADDR|NODE, [src|dst] net CIDR, [tcp|udp] [src|dst] port N, ether [src|dst] host MAC, and, or, not, ( )"

func tokenize(s string) []string {
	var out []string
	for _, f := range strings.Fields(s) {
		for f != "" {
			i := strings.IndexAny(f, "()!")
			switch {
			case i < 0:
				out, f = append(out, f), ""
			case i > 0:
				out, f = append(out, f[:i]), f[i:]
			default:
				out, f = append(out, f[:1]), f[1:]
			}
		}
	}
	return out
}

// The expression tree.
type node interface {
	gen(c *codegen, T, F int)
}

type and struct{ a, b node }
type or struct{ a, b node }
type not struct{ a node }

func (n and) gen(c *codegen, T, F int) {
	l := c.label()
	n.a.gen(c, l, F)
	c.place(l)
	n.b.gen(c, T, F)
}

func (n or) gen(c *codegen, T, F int) {
	l := c.label()
	n.a.gen(c, T, l)
	c.place(l)
	n.b.gen(c, T, F)
}

func (n not) gen(c *codegen, T, F int) { n.a.gen(c, F, T) }

type parser struct {
	toks  []string
	pos   int
	names map[string][]netip.Addr
}

func (p *parser) peek() string {
	if p.pos < len(p.toks) {
		return p.toks[p.pos]
	}
	return ""
}

func (p *parser) next() string {
	t := p.peek()
	if t != "" {
		p.pos++
	}
	return t
}

func (p *parser) expr() (node, error) {
	a, err := p.term()
	for err == nil && (p.peek() == "or" || p.peek() == "||") {
		p.next()
		var b node
		if b, err = p.term(); err == nil {
			a = or{a, b}
		}
	}
	return a, err
}

func (p *parser) term() (node, error) {
	a, err := p.factor()
	for err == nil && (p.peek() == "and" || p.peek() == "&&") {
		p.next()
		var b node
		if b, err = p.factor(); err == nil {
			a = and{a, b}
		}
	}
	return a, err
}

func (p *parser) factor() (node, error) {
	switch t := p.next(); t {
	case "":
		return nil, fmt.Errorf("the expression ends too early")
	case "not", "!":
		a, err := p.factor()
		return not{a}, err
	case "(":
		a, err := p.expr()
		if err != nil {
			return nil, err
		}
		if p.next() != ")" {
			return nil, fmt.Errorf("missing )")
		}
		return a, nil
	default:
		p.pos--
		return p.primitive()
	}
}

// Directions of host, net and port.
const (
	either = iota // src or dst
	src
	dst
	both // src and dst
)

func (p *parser) direction() int {
	switch p.peek() {
	case "src":
		p.next()
		if p.peek() == "and" && p.pos+1 < len(p.toks) && p.toks[p.pos+1] == "dst" {
			p.pos += 2
			return both
		}
		if p.peek() == "or" && p.pos+1 < len(p.toks) && p.toks[p.pos+1] == "dst" {
			p.pos += 2
		}
		return src
	case "dst":
		p.next()
		return dst
	}
	return either
}

func (p *parser) primitive() (node, error) {
	t := p.next()
	switch t {
	case "ether":
		if p.peek() == "src" || p.peek() == "dst" || p.peek() == "host" {
			dir := p.direction()
			if p.next() != "host" {
				return nil, fmt.Errorf("ether %s: write ether [src|dst] host MAC", p.toks[p.pos-1])
			}
			mac, err := net.ParseMAC(p.next())
			if err != nil || len(mac) != 6 {
				return nil, fmt.Errorf("ether host: %q is not a MAC address", p.toks[p.pos-1])
			}
			return etherHost{mac, dir}, nil
		}
		return always{}, nil
	case "ip":
		return etherType(0x0800), nil
	case "ip6":
		return etherType(0x86dd), nil
	case "arp":
		return etherType(0x0806), nil
	case "icmp":
		return proto{v4: 1}, nil
	case "icmp6":
		return proto{v6: 58}, nil
	case "tcp", "udp":
		n := uint32(6)
		if t == "udp" {
			n = 17
		}
		if p.peek() == "port" || p.peek() == "src" || p.peek() == "dst" {
			return p.port([]uint32{n})
		}
		return proto{v4: n, v6: n}, nil
	case "src", "dst", "host", "net", "port":
		p.pos--
		save := p.pos
		dir := p.direction()
		switch p.peek() {
		case "host":
			p.next()
			return p.host(dir)
		case "net":
			p.next()
			return p.net(dir)
		case "port":
			p.pos = save
			return p.port([]uint32{6, 17})
		}
		return nil, fmt.Errorf("%s: host, net or port must follow", strings.Join(p.toks[save:p.pos], " "))
	}
	return nil, fmt.Errorf("%q is not a filter primitive this compiler knows (it knows %s)", t, Supported)
}

func (p *parser) host(dir int) (node, error) {
	w := p.next()
	var addrs []netip.Addr
	if a, err := netip.ParseAddr(w); err == nil {
		addrs = []netip.Addr{a.Unmap()}
	} else if as, ok := p.names[w]; ok && len(as) > 0 {
		addrs = as
	} else if ok {
		return nil, fmt.Errorf("host %s: the node has no address", w)
	} else {
		return nil, fmt.Errorf("host %q: not an address nor a node of the lab (names are not looked up in DNS)", w)
	}
	var n node
	for _, a := range addrs {
		var h node = ipHost{a, dir}
		if n == nil {
			n = h
		} else {
			n = or{n, h}
		}
	}
	return n, nil
}

func (p *parser) net(dir int) (node, error) {
	w := p.next()
	pre, err := netip.ParsePrefix(w)
	if err != nil {
		return nil, fmt.Errorf("net %q: write a prefix such as 10.0.0.0/24", w)
	}
	return ipNet{pre.Masked(), dir}, nil
}

func (p *parser) port(protos []uint32) (node, error) {
	dir := p.direction()
	if p.next() != "port" {
		return nil, fmt.Errorf("write [tcp|udp] [src|dst] port N")
	}
	w := p.next()
	n, err := strconv.ParseUint(w, 10, 16)
	if err != nil {
		return nil, fmt.Errorf("port %q: write a number from 0 to 65535", w)
	}
	return port{protos, uint32(n), dir}, nil
}
