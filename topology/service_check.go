package topology

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// ParseReadyTCP reads the address of a TCP readiness check: a port
// (127.0.0.1:PORT), or ADDRESS:PORT with an IP address ([v6]:PORT) or
// localhost. It returns ADDRESS:PORT. Names other than localhost are
// refused: a check never asks a resolver.
func ParseReadyTCP(s string) (string, error) {
	if strings.Trim(s, "0123456789") == "" {
		n, err := port(s)
		if err != nil {
			return "", err
		}
		return netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), uint16(n)).String(), nil
	}
	host, ps, err := splitHostPort(s)
	if err != nil {
		return "", fmt.Errorf("%s: write a port (9000) or ADDRESS:PORT (10.0.0.2:9000, [fd00::2]:9000)", shortQuote(s))
	}
	a, err := connectAddr(host)
	if err != nil {
		return "", fmt.Errorf("%s: %v", shortQuote(s), err)
	}
	n, err := port(ps)
	if err != nil {
		return "", fmt.Errorf("%s: %v", shortQuote(s), err)
	}
	return netip.AddrPortFrom(a, uint16(n)).String(), nil
}

// splitHostPort splits HOST:PORT and [HOST]:PORT.
func splitHostPort(s string) (string, string, error) {
	i := strings.LastIndexByte(s, ':')
	if i < 0 {
		return "", "", errors.New("no port")
	}
	host, p := s[:i], s[i+1:]
	if strings.HasPrefix(host, "[") != strings.HasSuffix(host, "]") {
		return "", "", errors.New("unbalanced brackets")
	}
	if strings.HasPrefix(host, "[") {
		host = host[1 : len(host)-1]
		if !strings.Contains(host, ":") {
			return "", "", errors.New("brackets around an address that is not IPv6")
		}
	} else if strings.Contains(host, ":") {
		return "", "", errors.New("IPv6 address without brackets")
	}
	return host, p, nil
}

// connectAddr reads the host of a readiness check: an IP address that a
// connection can go to, or localhost.
func connectAddr(host string) (netip.Addr, error) {
	if strings.EqualFold(host, "localhost") {
		return netip.AddrFrom4([4]byte{127, 0, 0, 1}), nil
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("%s is not an IP address: a readiness check connects to an address (or localhost), never to a name it would have to look up", shortQuote(host))
	}
	switch {
	case a.IsUnspecified():
		return netip.Addr{}, fmt.Errorf("%s is the any-address, which a service listens on but a check cannot connect to: write 127.0.0.1 or ::1", a)
	case a.IsMulticast() || a == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		return netip.Addr{}, fmt.Errorf("%s is a multicast or broadcast address: TCP connects to one host", a)
	}
	return a.Unmap(), nil
}

// ParseReadyURL reads the URL of an HTTP readiness check: http:// with an
// IP address or localhost, an optional port and a path. localhost is
// written as 127.0.0.1 in the result.
func ParseReadyURL(s string) (string, error) {
	u, err := url.Parse(s)
	if err != nil {
		return "", fmt.Errorf("%s is not a URL such as http://127.0.0.1:8080/health", shortQuote(s))
	}
	switch {
	case strings.EqualFold(u.Scheme, "https"):
		return "", fmt.Errorf("%s: https is not checked (no certificate could be verified in a lab): use the service's plain http port, or a command such as curl -k", shortQuote(s))
	case u.Scheme != "http":
		return "", fmt.Errorf("%s: write an http:// URL such as http://127.0.0.1:8080/health", shortQuote(s))
	case u.Opaque != "" || u.Host == "":
		return "", fmt.Errorf("%s has no host: write http://ADDRESS[:PORT]/PATH", shortQuote(s))
	case u.User != nil:
		return "", fmt.Errorf("%s holds a user name or password, which a readiness check does not send", shortQuote(s))
	}
	a, err := connectAddr(u.Hostname())
	if err != nil {
		return "", fmt.Errorf("%s: %v", shortQuote(s), err)
	}
	if ps := u.Port(); ps != "" || strings.HasSuffix(u.Host, ":") {
		if _, err := port(ps); err != nil {
			return "", fmt.Errorf("%s: %v", shortQuote(s), err)
		}
	}
	if strings.EqualFold(u.Hostname(), "localhost") {
		host := a.String()
		if ps := u.Port(); ps != "" {
			host += ":" + ps
		}
		u.Host = host
		return u.String(), nil
	}
	return s, nil
}

// checkServices checks what services say of each other: after: names
// services that exist, and no services wait for each other in a cycle.
func (p *parser) checkServices() {
	byRef := map[ServiceRef]*Service{}
	nodes := map[string]*Node{}
	var all []*Service
	for _, n := range p.lab.Nodes {
		nodes[n.Name] = n
		for _, s := range n.Services {
			byRef[ServiceRef{Node: s.Node, Service: s.Name}] = s
			all = append(all, s)
		}
	}
	if len(all) == 0 {
		return
	}
	// Cycles are searched from services in file order, so that the
	// first ones reported (up to maxErrors) are the first in the file.
	slices.SortFunc(all, func(a, b *Service) int { return comparePos(a.Pos, b.Pos) })
	edges := make(map[*Service][]edge, len(all))
	for _, s := range all {
		for _, r := range s.After {
			t := byRef[ServiceRef{Node: r.Node, Service: r.Service}]
			if t == nil {
				p.missingService(s, r, nodes)
				continue
			}
			edges[s] = append(edges[s], edge{to: t, pos: r.Pos})
		}
	}
	p.checkCycles(all, edges)
}

// missingService reports an after: entry that names no service.
func (p *parser) missingService(s *Service, r ServiceRef, nodes map[string]*Node) {
	n := nodes[r.Node]
	if n == nil {
		p.errorf(r.Pos, "%s: %s: no node %q %s", afterPath(s), r, r.Node, choices("nodes", r.Node, names(p.lab.Nodes, nodeName)))
		return
	}
	list := "(it has none)"
	if svcs := names(n.Services, func(s *Service) string { return s.Name }); len(svcs) > 0 {
		list = choices("its services", r.Service, svcs)
	}
	if r.Node == s.Node {
		hint := "write NODE/SERVICE for a service of another node"
		if other := nodes[r.Service]; other != nil && len(other.Services) > 0 {
			hint = fmt.Sprintf("%s is a node: write %s/SERVICE (its services: %s)", r.Service, r.Service,
				quoteList(names(other.Services, func(s *Service) string { return s.Name })))
		}
		p.errorf(r.Pos, "%s: node %s has no service %q %s; %s", afterPath(s), s.Node, r.Service, list, hint)
		return
	}
	p.errorf(r.Pos, "%s: node %s has no service %q %s", afterPath(s), r.Node, r.Service, list)
}

func afterPath(s *Service) string { return "nodes." + s.Node + ".services." + s.Name + ".after" }

// edge is one after: entry that names a service.
type edge struct {
	to  *Service
	pos Pos
}

// checkCycles finds services that wait for each other in a circle, and
// reports each cycle once, at the first after: entry of it in the file.
// The search is a depth-first walk without recursion, so that a chain of
// thousands of services does not grow the stack.
func (p *parser) checkCycles(all []*Service, edges map[*Service][]edge) {
	const (
		unseen = iota
		open
		done
	)
	state := make(map[*Service]int, len(all))
	type frame struct {
		s    *Service
		next int // the next edge of s to follow
		via  Pos // the entry that led here
	}
	for _, root := range all {
		if state[root] != unseen {
			continue
		}
		stack := []frame{{s: root}}
		state[root] = open
		for len(stack) > 0 {
			top := &stack[len(stack)-1]
			if top.next == len(edges[top.s]) {
				state[top.s] = done
				stack = stack[:len(stack)-1]
				continue
			}
			e := edges[top.s][top.next]
			top.next++
			switch state[e.to] {
			case unseen:
				state[e.to] = open
				stack = append(stack, frame{s: e.to, via: e.pos})
			case open:
				i := len(stack) - 1
				for stack[i].s != e.to {
					i--
				}
				cycle := make([]*Service, 0, len(stack)-i+1)
				pos := []Pos{}
				for _, f := range stack[i:] {
					cycle = append(cycle, f.s)
					if f.s != e.to {
						pos = append(pos, f.via)
					}
				}
				p.cycle(append(cycle, e.to), append(pos, e.pos))
			}
		}
	}
}

// cycle reports services that wait for each other: cycle starts and ends
// with the same service, pos are the after: entries along it.
func (p *parser) cycle(cycle []*Service, pos []Pos) {
	first := 0
	for i := range pos {
		if comparePos(pos[i], pos[first]) < 0 {
			first = i
		}
	}
	// Start the cycle at the service whose entry is reported.
	ring := cycle[:len(cycle)-1]
	refs := make([]string, 0, len(cycle))
	for i := range len(ring) + 1 {
		refs = append(refs, ring[(first+i)%len(ring)].Ref())
	}
	var others []string
	for i := 1; i < len(pos); i++ {
		j := (first + i) % len(pos)
		others = append(others, ring[j].Ref()+" at "+lineCol(pos[j]))
	}
	if len(refs) > 12 { // a cycle of thousands: its start and its end
		refs = append(append(refs[:6:6], "... ("+strconv.Itoa(len(refs)-11)+" more)"), refs[len(refs)-5:]...)
	}
	msg := afterPath(ring[first]) + ": services wait for each other in a cycle of " + strconv.Itoa(len(ring)) + ": " + strings.Join(refs, " -> ")
	if len(others) > 0 {
		if len(others) > 5 {
			others = append(others[:5], "... ("+strconv.Itoa(len(others))+" in all)")
		}
		msg += " (the other after: entries: " + strings.Join(others, ", ") + ")"
	}
	p.errorf(pos[first], "%s; remove one of these after: entries", msg)
}

// lineCol returns "line:col", without the file.
func lineCol(p Pos) string { return strconv.Itoa(p.Line) + ":" + strconv.Itoa(p.Col) }
