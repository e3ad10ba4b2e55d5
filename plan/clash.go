package plan

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"

	"github.com/nslab/nslab/kernel"
	"github.com/nslab/nslab/topology"
)

// ErrLabExists is returned by Up when objects of the lab already exist.
var ErrLabExists = errors.New("lab exists")

// ClashError reports a name the lab needs that something else holds.
type ClashError struct {
	Pos  topology.Pos
	What string // "namespace lab.ns1", "bridge br0 (altname lab.br0)"
	By   string // what holds the name
}

func (e *ClashError) Error() string {
	return fmt.Sprintf("%s: %s: the name is taken by %s, which nslab did not make; nslab leaves it alone: remove it yourself or rename the lab (name: in the file, or --lab)", e.Pos, e.What, e.By)
}

// checkClashes fails when a name the lab needs exists: with nslab's mark
// of this lab, the lab is up already; without it, the object is foreign.
func checkClashes(lab *topology.Lab, st *kernel.State) error {
	var errs []error
	ours := 0
	check := func(pos topology.Pos, what, mark, found, by string) {
		if found == mark {
			ours++
			return
		}
		errs = append(errs, &ClashError{Pos: pos, What: what, By: by})
	}
	for _, n := range lab.Nodes {
		ns := NetnsName(lab.Name, n.Name)
		if m, ok := st.Namespaces[ns]; ok {
			check(n.Pos, "node "+n.Name, kernel.Marker(lab.Name, kernel.KindNode, n.Name), m, describeNetns(ns, m))
		}
	}
	for _, w := range rootNames(lab) {
		for _, name := range []string{w.name, w.alt} {
			if k, ok := st.Names[name]; ok {
				l := st.Links[k]
				check(w.pos, fmt.Sprintf("%s (kernel name %s, altname %s)", w.what, w.name, w.alt), w.mark, l.Alias, describeLink(l))
			}
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	if ours > 0 {
		return fmt.Errorf("%w: lab %s is already up; run `nslab down %s` first, or give this copy another name with --lab", ErrLabExists, lab.Name, lab.Name)
	}
	return errors.Join(checkHostSubnets(lab, st), checkPublishAddrs(lab, st), checkPublishPorts(lab, st))
}

// checkPublishPorts fails when a port the lab publishes is one a host
// process listens on, on an address the lab's rule would take from it.
func checkPublishPorts(lab *topology.Lab, st *kernel.State) error {
	var errs []error
	fw := firewallOp(lab)
	if fw == nil {
		return nil
	}
	for _, n := range lab.Nodes {
		for _, p := range n.Publish {
			for _, l := range st.Listeners {
				if l.Proto != p.Proto || int(l.Port) != p.HostPort || !takes(p, l.Addr, fw.HostAddrs) {
					continue
				}
				errs = append(errs, fmt.Errorf("%s: node %s publishes host port %d/%s, but %s on the host listens on %s: nslab does not take a port from the host; stop that program or publish another host port", p.Pos, n.Name, p.HostPort, p.Proto, l.Holders(), l.AddrPort()))
				break
			}
		}
	}
	return errors.Join(errs...)
}

// takes reports whether a published port would catch connections meant
// for a socket listening on addr: one on every address always, one on
// an address when the port answers there.
func takes(p topology.Publish, addr netip.Addr, labAddrs []netip.Addr) bool {
	if addr.IsUnspecified() || p.HostIP.IsUnspecified() && addr.Is4() == p.HostIP.Is4() {
		return true
	}
	for _, to := range []netip.Addr{p.To, p.To6} {
		if to.IsValid() && slices.Contains(publishOn(p, to, labAddrs), addr) {
			return true
		}
	}
	return false
}

// checkPublishAddrs fails when a port is published on an address the
// host does not have (nor the lab will give it).
func checkPublishAddrs(lab *topology.Lab, st *kernel.State) error {
	var errs []error
	for _, n := range lab.Nodes {
		for _, p := range n.Publish {
			a := p.HostIP
			if !a.IsValid() || a.IsUnspecified() || a.IsLoopback() || hostHas(lab, st, a) {
				continue
			}
			errs = append(errs, fmt.Errorf("%s: node %s publishes port %d on %s, which is not an address of this host: name one of its addresses, 0.0.0.0 (all IPv4), [::] (all IPv6), or leave it out (localhost and the lab's own host addresses)", p.Pos, n.Name, p.HostPort, a))
		}
	}
	return errors.Join(errs...)
}

func hostHas(lab *topology.Lab, st *kernel.State, a netip.Addr) bool {
	for _, h := range st.Addrs {
		if h.Prefix.Addr() == a {
			return true
		}
	}
	for _, h := range hostPrefixes(lab) {
		if h.prefix.Addr() == a {
			return true
		}
	}
	return false
}

// checkHostSubnets fails when an address the lab puts on the host shares
// a subnet with an address the host has already: the host would then
// route the lab's replies out of the wrong interface.
func checkHostSubnets(lab *topology.Lab, st *kernel.State) error {
	var errs []error
	for _, h := range hostPrefixes(lab) {
		for _, a := range st.Addrs {
			if h.prefix.Overlaps(a.Prefix) {
				errs = append(errs, fmt.Errorf("%s: %s: %s overlaps %s on the host's %s; the host would route part of the lab's traffic out of the wrong interface: pick a subnet the host does not use",
					h.pos, h.what, h.prefix, a.Prefix, describeHostLink(st, a.Link)))
			}
		}
		if h.prefix.Addr().IsLinkLocalUnicast() {
			continue
		}
		for _, r := range st.Routes {
			if h.prefix.Overlaps(r.To) && !r.To.Addr().IsLinkLocalUnicast() {
				errs = append(errs, fmt.Errorf("%s: %s: %s overlaps the host's route to %s %s; the host would send part of the lab's traffic, or the route's, the wrong way: pick a subnet the host does not route",
					h.pos, h.what, h.prefix, r.To, describeRouteDev(st, r)))
			}
		}
	}
	return errors.Join(errs...)
}

func describeRouteDev(st *kernel.State, r kernel.HostRoute) string {
	var s string
	switch {
	case r.Link == "":
		s = "(no device)"
	default:
		s = "dev " + describeHostLink(st, r.Link)
	}
	if r.Table != 254 {
		s += fmt.Sprintf(" in table %d", r.Table)
	}
	return s
}

func describeHostLink(st *kernel.State, name string) string {
	l := st.Links[name]
	if l == nil {
		return "link " + name
	}
	if lab, _, _, ok := kernel.ParseMarker(l.Alias); ok && len(l.AltNames) > 0 {
		return fmt.Sprintf("%s (%s, lab %s)", l.Name, l.AltNames[0], lab)
	}
	return l.Name
}

type hostPrefix struct {
	pos    topology.Pos
	what   string
	prefix netip.Prefix
}

func hostPrefixes(lab *topology.Lab) []hostPrefix {
	var out []hostPrefix
	for _, b := range lab.Bridges {
		for _, p := range b.Addresses {
			out = append(out, hostPrefix{b.Pos, "bridge " + b.Name, p})
		}
	}
	for _, i := range lab.Host {
		for _, p := range i.Addresses {
			out = append(out, hostPrefix{i.Pos, "host interface " + i.Name, p})
		}
	}
	return out
}

func describeNetns(ns, mark string) string {
	switch mark {
	case "":
		return "the namespace " + ns + " (made by ip netns add or another tool)"
	case kernel.Unknown:
		return "the namespace " + ns
	}
	return fmt.Sprintf("the namespace %s marked %q", ns, mark)
}

func describeLink(l *kernel.RootLink) string {
	if l.Alias != "" {
		return fmt.Sprintf("%s link %s (alias %q)", l.Type, l.Name, l.Alias)
	}
	return fmt.Sprintf("%s link %s", l.Type, l.Name)
}

// rootName is a name the lab needs in the root namespace.
type rootName struct {
	pos       topology.Pos
	what      string
	name, alt string
	mark      string
}

func rootNames(lab *topology.Lab) []rootName {
	var out []rootName
	for _, b := range lab.Bridges {
		out = append(out, rootName{b.Pos, "bridge " + b.Name, BridgeName(lab.Name, b.Name), BridgeAltName(lab.Name, b.Name), kernel.Marker(lab.Name, kernel.KindBridge, b.Name)})
	}
	for _, l := range lab.Links {
		switch l.Kind {
		case topology.Port:
			a := l.A
			out = append(out, rootName{l.Pos, "port of " + a.Ref(), PortName(lab.Name, a.Node, a.Name), PortAltName(lab.Name, a.Node, a.Name), kernel.Marker(lab.Name, kernel.KindPort, a.Ref())})
		case topology.Trunk:
			br, up := l.Bridge.Name, l.Uplink.Name
			mark := kernel.Marker(lab.Name, kernel.KindTrunk, br)
			out = append(out,
				rootName{l.Pos, "trunk " + l.String(), TrunkName(lab.Name, br, "a"), TrunkAltName(lab.Name, br, up), mark},
				rootName{l.Pos, "trunk " + l.String(), TrunkName(lab.Name, br, "b"), TrunkAltName(lab.Name, up, br), mark})
		}
	}
	for _, i := range lab.Host {
		out = append(out, rootName{i.Pos, "host interface " + i.Name, HostIfName(lab.Name, i.Name), HostIfAltName(lab.Name, i.Name), kernel.Marker(lab.Name, kernel.KindHost, i.Name)})
	}
	for _, t := range lab.Taps() {
		out = append(out, rootName{t.Pos, "tap " + t.Name, TapName(lab.Name, t.Name), TapAltName(lab.Name, t.Bridge.Name, t.Name), kernel.Marker(lab.Name, kernel.KindTap, t.Name)})
	}
	for _, b := range lab.Bridges {
		if b.Tunnel != nil {
			out = append(out, rootName{b.Pos, "tunnel of " + b.Name, TunnelName(lab.Name, b.Name), TunnelAltName(lab.Name, b.Name), kernel.Marker(lab.Name, kernel.KindTunnel, b.Name)})
		}
	}
	return out
}
