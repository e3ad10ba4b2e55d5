package topology

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// FuzzParse checks that Parse never panics, that what it accepts is a
// consistent model, and that errors are well formed and inside the file.
func FuzzParse(f *testing.F) {
	for _, dir := range []string{"good", "bad"} {
		for _, path := range testFiles(f, dir) {
			data, err := os.ReadFile(path)
			if err != nil {
				f.Fatal(err)
			}
			if len(data) < 4096 {
				f.Add(data)
			}
		}
	}
	for _, s := range []string{
		"%YAML 1.1\n---\nname: *x\nbridges: {br0: {}}\n",
		"name: x\nbridges: {br0: *b, br1: &b {}}\nnodes:\n  a: {}\n  : {}\n",
		"name: x\nnodes: &n\n  a: *n\n  b: {<<: [*n]}\n",
		"\uFEFF---\nname: !!str x\nnodes: {a: {router: &t !x True, sysctls: {net.a: 0x10}}}\n",
		"name: x\nnodes: {a: {services: {s: &c [sleep, 1], t: {command: *c, after: [s, a/s]}}}}\n",
		"name: x\nnodes: {a: {services: {s: {<<: &d {command: x, restart: no}, ready: {tcp: \"[::1]:1\"}}, t: {<<: *d, after: s}}}}\n",
		"name: x\nnodes: {a: {services: {s: {command: x, after: [b/t]}}}, b: {services: {t: {command: y, after: [a/s]}}}}\n",
		"name: x\nnodes:\n  a:\n    interfaces:\n      e: {link: b:e}\n      e.5: {kind: vlan, addresses: [10.0.5.1/24]}\n      q: {kind: vlan, parent: e, id: 7, protocol: 802.1ad, mtu: 1400}\n      m: {kind: macvlan, parent: q}\n  b: {interfaces: {e: {}, e.5: {kind: vlan}}}\n",
		"name: x\naddressing: {pool: [10.9.0.0/16]}\nnodes:\n  a:\n    interfaces:\n      e0: {link: b:e0}\n      e1: {link: b:e1}\n      bo: {kind: bond, mode: 802.3ad, members: [e0, e1], lacp-rate: fast}\n      v: {kind: vrf, table: 9, members: [bo, d]}\n      d: {kind: dummy, addresses: [10.1.1.1/32]}\n    routes: [{to: 10.2.0.0/16, dev: bo, vrf: v}]\n  b: {interfaces: {e0: {}, e1: {}, bo: {kind: bond, members: [e0, e1]}}}\n",
		"name: x\nnodes:\n  p:\n    interfaces:\n      r: {link: a:e, addresses: [10.0.0.1/24]}\n      s: {link: b:e, addresses: [10.0.0.1/24]}\n      v1: {kind: vrf, table: 1, members: [r]}\n      v2: {kind: vrf, table: 2, members: [s]}\n  a: {interfaces: {e: {addresses: [10.0.0.2/24]}}}\n  b: {interfaces: {e: {addresses: [10.0.0.2/24]}}}\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		lab, err := Parse("fuzz.yaml", data)
		checkResult(t, data, lab, err)
	})
}

func checkResult(t *testing.T, data []byte, lab *Lab, err error) {
	t.Helper()
	if err == nil {
		if cerr := checkModel(lab); cerr != nil {
			t.Fatalf("Parse accepted an inconsistent lab: %v\n%s", cerr, dumpLab(lab))
		}
		if cerr := errors.Join(checkRules(lab), checkServiceRules(lab)); cerr != nil {
			t.Fatalf("Parse accepted a lab that breaks a rule: %v\n%s", cerr, dumpLab(lab))
		}
		return
	}
	var list ErrorList
	if !errors.As(err, &list) || len(list) == 0 || len(list) > maxErrors+1 {
		t.Fatalf("Parse: bad error %#v", err)
	}
	lines := len(lineStarts(data)) - 1
	for _, e := range list {
		if e.Pos.File != "fuzz.yaml" || e.Msg == "" {
			t.Fatalf("bad error %q", e)
		}
		if e.Pos.Line != 0 && (e.Pos.Line > lines || e.Pos.Line < 1 || e.Pos.Col < 1) {
			t.Fatalf("error %q is outside the %d lines of the file", e, lines)
		}
		if !utf8.ValidString(e.Msg) || strings.ContainsFunc(e.Msg, func(r rune) bool { return !unicode.IsPrint(r) }) {
			t.Fatalf("error %q shows a character a terminal does not print", e)
		}
		if len(e.Msg) > 16<<10 {
			t.Fatalf("error of %d bytes: %.200s...", len(e.Msg), e.Msg)
		}
	}
}

// checkRules checks that an accepted lab keeps the rules of
// docs/format.md that validation promises, beyond the model's structure.
func checkRules(l *Lab) error {
	type use struct {
		owner string
		seg   int
	}
	segOf := map[string]int{}
	segs := l.Segments()
	for i, s := range segs {
		for _, m := range s.Members {
			segOf[m.Node+":"+m.Dev] = i
		}
	}
	realm := realms(segs) // two vrfs may hold the same address
	realmOf := func(seg int) int {
		if seg < 0 {
			return -1
		}
		return realm[seg]
	}
	addrs := map[netip.Addr]use{}
	macs := map[string]bool{}
	addrOK := func(owner string, seg int, a netip.Prefix) error {
		ip := a.Addr()
		switch {
		case unusableAddr(ip) != "":
			return fmt.Errorf("%s has %s, which is %s", owner, a, unusableAddr(ip))
		case ip.Is4() && a.Bits() < 31 && (ip == a.Masked().Addr() || ip == lastAddr(a.Masked())):
			return fmt.Errorf("%s has %s, the network or broadcast address", owner, a)
		case ip.Is6() && a.Bits() < 127 && ip == a.Masked().Addr():
			return fmt.Errorf("%s has %s, the subnet-router anycast address", owner, a)
		}
		scope := -1
		if ip.IsLinkLocalUnicast() {
			scope = seg
		}
		if u, dup := addrs[ip]; dup && (scope < 0 && realmOf(u.seg) == realmOf(seg) || scope >= 0 && u.seg == seg) {
			return fmt.Errorf("%s and %s both have %s", u.owner, owner, ip)
		}
		addrs[ip] = use{owner, seg}
		return nil
	}
	ifaceOK := func(i *Interface) error {
		if err := ValidInterfaceName(i.Name); err != nil {
			return err
		}
		if i.MTU != 0 && (i.MTU < MinMTU || i.MTU > MaxMTU) {
			return fmt.Errorf("%s: mtu %d", i.Ref(), i.MTU)
		}
		if i.MAC != nil {
			if len(i.MAC) != 6 || i.MAC[0]&1 != 0 || macs[i.MAC.String()] || i.MAC.String() == "00:00:00:00:00:00" {
				return fmt.Errorf("%s: mac %s", i.Ref(), i.MAC)
			}
			macs[i.MAC.String()] = true
		}
		for _, a := range i.Addresses {
			if err := addrOK(i.Ref(), segOf[i.Ref()], a); err != nil {
				return err
			}
		}
		return nil
	}
	for _, b := range l.Bridges {
		if err := ValidBridgeName(b.Name); err != nil {
			return err
		}
		if n := len(l.Ports(b)); n > 1024 {
			return fmt.Errorf("bridge %s has %d ports", b.Name, n)
		}
		for _, a := range b.Addresses {
			if err := addrOK("bridge "+b.Name, segOf[HostNode+":"+b.Name], a); err != nil {
				return err
			}
		}
	}
	for _, i := range l.Host {
		if err := ifaceOK(i); err != nil {
			return err
		}
	}
	for _, n := range l.Nodes {
		if err := ValidNodeName(n.Name); err != nil {
			return err
		}
		for _, i := range n.Interfaces {
			if err := ifaceOK(i); err != nil {
				return err
			}
		}
		for _, r := range n.Routes {
			if err := routeOK(n, r); err != nil {
				return fmt.Errorf("node %s: route to %s: %v", n.Name, r.To, err)
			}
		}
		for _, s := range n.Sysctls {
			if checkSysctlKey(s.Key) != nil || s.Value == "" || s.Value != strings.Join(strings.Fields(s.Value), " ") || strings.ContainsFunc(s.Value, func(r rune) bool { return r != ' ' && !sysctlValueChar(r) }) {
				return fmt.Errorf("node %s: sysctl %q = %q", n.Name, s.Key, s.Value)
			}
		}
	}
	return nil
}

// routeOK checks a route of an accepted lab: dev is an interface of the
// node, and via a neighbour on one of its subnets.
func routeOK(n *Node, r Route) error {
	if r.To != r.To.Masked() || r.Via.IsValid() && r.Via.Is4() != r.To.Addr().Is4() || r.Metric < 0 || r.Metric > 1<<32-1 {
		return fmt.Errorf("to %s via %s metric %d", r.To, r.Via, r.Metric)
	}
	ifaces := n.Interfaces
	if r.Dev != "" {
		if n.Interface(r.Dev) == nil {
			return fmt.Errorf("no interface %q", r.Dev)
		}
		ifaces = []*Interface{n.Interface(r.Dev)}
	}
	switch {
	case !r.Via.IsValid() && r.Dev == "":
		return fmt.Errorf("neither via nor dev")
	case !r.Via.IsValid(), r.Via.Is6() && r.Via.IsLinkLocalUnicast():
		return nil
	}
	reached := false
	for _, i := range n.Interfaces {
		for _, a := range i.Addresses {
			if a.Addr() == r.Via {
				return fmt.Errorf("via %s is the node's own", r.Via)
			}
		}
	}
	for _, i := range ifaces {
		for _, a := range i.Addresses {
			switch {
			case !a.Contains(r.Via):
			case r.Via.Is4() && a.Bits() < 31 && (r.Via == a.Masked().Addr() || r.Via == lastAddr(a.Masked())):
				return fmt.Errorf("via %s is the network or broadcast address of %s", r.Via, a)
			default:
				reached = true
			}
		}
	}
	if !reached {
		return fmt.Errorf("via %s is on no subnet of the node", r.Via)
	}
	return nil
}

// FuzzValidate fills the fields of a valid lab with fuzzed strings and
// numbers, each written as a double-quoted YAML string (or a number), so
// that the fuzzer works on names, addresses, links, routes and sysctls
// rather than on YAML syntax.
func FuzzValidate(f *testing.F) {
	type seed struct {
		lab, bridge, node, iface, link, addr1, addr2, mac, to, via, dev, key, val string
		mtu, metric                                                               int64
		router                                                                    bool
	}
	ok := seed{"fz", "br0", "ns1", "eth0", "br0", "10.0.0.1/24", "10.0.0.2/24", "02:00:00:00:00:01",
		"default", "10.0.0.1", "eth0", "net.ipv4.ip_forward", "1", 1500, 0, true}
	seeds := []seed{ok}
	for _, edit := range []func(*seed){
		func(s *seed) { s.addr2 = "10.0.0.0/24" },
		func(s *seed) { s.addr2 = "10.0.0.255/24" },
		func(s *seed) { s.addr1, s.addr2, s.via = "10.0.0.0/31", "10.0.0.1/31", "10.0.0.0" },
		func(s *seed) { s.addr1, s.addr2, s.via, s.to = "fd00::1/64", "fe80::2/64", "fe80::1", "::/0" },
		func(s *seed) { s.addr1, s.addr2, s.via, s.to = "fd00::/64", "fd00::2/127", "fd00::3", "fd01::/64" },
		func(s *seed) { s.via = "10.0.0.255" },
		func(s *seed) { s.via, s.dev = "10.9.0.2", "" },
		func(s *seed) { s.link = "peer:e0" },
		func(s *seed) { s.link = "ns1:eth0" },
		func(s *seed) { s.link = "host:up" },
		func(s *seed) { s.node, s.link = "a/b", "br\x00" },
		func(s *seed) { s.iface, s.dev = "eth0.10", "eth0.10" },
		func(s *seed) { s.bridge, s.link = "..", ".." },
		func(s *seed) { s.lab = "lab\nfake.yaml:1:1: ok" },
		func(s *seed) { s.mac = "01:00:5e:00:00:01" },
		func(s *seed) { s.mtu, s.addr1 = 1279, "fd00::1/64" },
		func(s *seed) { s.mtu, s.metric = -1, 1<<32 },
		func(s *seed) { s.key, s.val = "net.ipv4.conf.eth0.forwarding", "$(reboot)" },
		func(s *seed) { s.addr2 = "::ffff:10.0.0.2/120" },
		func(s *seed) { s.addr2 = "169.254.0.1/16" },
		func(s *seed) { s.to = "10.0.0.0/8" },
	} {
		s := ok
		edit(&s)
		seeds = append(seeds, s)
	}
	for _, s := range seeds {
		f.Add(s.lab, s.bridge, s.node, s.iface, s.link, s.addr1, s.addr2, s.mac, s.to, s.via, s.dev, s.key, s.val, s.mtu, s.metric, s.router)
	}
	f.Fuzz(func(t *testing.T, lab, bridge, node, iface, link, addr1, addr2, mac, to, via, dev, key, val string, mtu, metric int64, router bool) {
		q := yamlQuote
		data := []byte(fmt.Sprintf(`name: %s
bridges:
  %s: {addresses: [%s], mtu: %d}
nodes:
  %s:
    router: %t
    interfaces:
      %s: {link: %s, addresses: [%s], mac: %s}
      e1: {link: peer:e0, addresses: [10.9.0.1/30]}
    routes:
      - {to: %s, via: %s, dev: %s, metric: %d}
    sysctls:
      %s: %s
  peer:
    interfaces:
      e0: {addresses: [10.9.0.2/30]}
`, q(lab), q(bridge), q(addr1), mtu, q(node), router, q(iface), q(link), q(addr2), q(mac),
			q(to), q(via), q(dev), metric, q(key), q(val)))
		parsed, err := Parse("fuzz.yaml", data)
		checkResult(t, data, parsed, err)
	})
}

// yamlQuote writes s as a double-quoted YAML string. Bytes that are not
// UTF-8 become the characters U+0080 to U+00FF.
func yamlQuote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r >= 0x20 && r < 0x7f:
			b.WriteRune(r)
		case r <= 0xffff:
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			fmt.Fprintf(&b, `\U%08x`, r)
		}
		i += n
	}
	b.WriteByte('"')
	return b.String()
}
