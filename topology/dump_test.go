package topology

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// dumpLab renders a Lab as deterministic text for golden files.
func dumpLab(l *Lab) string {
	var b strings.Builder
	w := func(indent int, format string, args ...any) {
		b.WriteString(strings.Repeat("  ", indent))
		fmt.Fprintf(&b, format, args...)
		b.WriteByte('\n')
	}
	w(0, "lab %s (file %s)", l.Name, l.File)
	for _, br := range l.Bridges {
		w(0, "bridge %s @%s", br.Name, at(br.Pos))
		dumpAddrs(w, br.Addresses, br.MTU)
		if br.VLANFiltering {
			w(1, "vlan filtering, host side vlan %d, trunk vlans %v", br.PVID, br.Tagged)
		}
		for _, t := range br.Taps {
			w(1, "tap %s @%s user %q group %q vlan %d", t.Name, at(t.Pos), t.User, t.Group, t.VLAN)
		}
	}
	for _, o := range l.Overlays {
		w(0, "overlay %s @%s vni %d port %d subnets %s", o.Name, at(o.Pos), o.VNI, o.Port, prefixes(o.Subnets))
	}
	for _, n := range l.Nodes {
		w(0, "node %s @%s", n.Name, at(n.Pos))
		if n.Router {
			w(1, "router")
		}
		for _, i := range n.Interfaces {
			dumpIface(w, i)
		}
		for _, r := range n.Routes {
			w(1, "route to %s via %v dev %q metric %d @%s", r.To, r.Via, r.Dev, r.Metric, at(r.Pos))
		}
		for _, s := range n.Sysctls {
			w(1, "sysctl %s=%s @%s", s.Key, s.Value, at(s.Pos))
		}
		for _, s := range n.Services {
			dumpService(w, s)
		}
	}
	if len(l.Host) > 0 {
		w(0, "host")
		for _, i := range l.Host {
			dumpIface(w, i)
		}
	}
	for _, k := range l.Links {
		w(0, "link %s %s @%s", map[LinkKind]string{Peer: "peer", Port: "port", Trunk: "trunk"}[k.Kind], k, at(k.Pos))
	}
	for _, s := range l.Segments() {
		w(0, "segment %s", s.Name)
		for _, m := range s.Members {
			w(1, "%s:%s %s", m.Node, m.Dev, prefixes(m.Addresses))
		}
	}
	return b.String()
}

func dumpIface(w func(int, string, ...any), i *Interface) {
	link := "<none>"
	if i.Link != nil {
		link = i.Link.String()
	}
	w(1, "interface %s @%s link %s", i.Ref(), at(i.Pos), link)
	dumpAddrs(func(indent int, f string, a ...any) { w(indent+1, f, a...) }, i.Addresses, i.MTU)
	if i.MAC != nil {
		w(2, "mac %s", i.MAC)
	}
	if i.Shape != nil {
		w(2, "shape %s @%s", i.Shape, at(i.Shape.Pos))
	}
	if i.Overlay != nil {
		w(2, "overlay %s underlay %s", i.Overlay.Name, i.Underlay)
	}
	if i.HasVLANs() {
		w(2, "vlan %d vlans %v", i.PVID, i.Tagged)
	}
}

func dumpAddrs(w func(int, string, ...any), addrs []netip.Prefix, mtu int) {
	if len(addrs) > 0 {
		w(1, "addresses %s", prefixes(addrs))
	}
	if mtu != 0 {
		w(1, "mtu %d", mtu)
	}
}

func prefixes(ps []netip.Prefix) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	return strings.Join(s, " ")
}

func at(p Pos) string { return fmt.Sprintf("%d:%d", p.Line, p.Col) }

// checkModel checks the invariants every parsed Lab must hold.
func checkModel(l *Lab) error {
	if err := ValidLabName(l.Name); err != nil {
		return err
	}
	sorted := func(what string, names []string) error {
		if !slices.IsSorted(names) || len(slices.Compact(slices.Clone(names))) != len(names) {
			return fmt.Errorf("%s not sorted or not unique: %v", what, names)
		}
		return nil
	}
	if err := sorted("bridges", names(l.Bridges, bridgeName)); err != nil {
		return err
	}
	if err := sorted("nodes", names(l.Nodes, nodeName)); err != nil {
		return err
	}
	if err := sorted("host", names(l.Host, ifName)); err != nil {
		return err
	}
	for _, n := range l.Nodes {
		if err := sorted(n.Name+" interfaces", names(n.Interfaces, ifName)); err != nil {
			return err
		}
	}
	return checkLinks(l)
}

// checkLinks checks that every interface is the end of exactly one link,
// that trunks join two bridges of the lab, and that links are sorted.
func checkLinks(l *Lab) error {
	ends := map[*Interface]*Link{}
	var refs, trunks []string
	for i, k := range l.Links {
		if k.Kind == Trunk {
			if err := checkTrunk(l, k, i); err != nil {
				return err
			}
			trunks = append(trunks, k.Bridge.Name)
			continue
		}
		refs = append(refs, k.A.Ref())
		list, err := linkEnds(l, k)
		if err != nil {
			return err
		}
		for _, i := range list {
			if ends[i] != nil || i.Link != k {
				return fmt.Errorf("interface %s: Link is %v, expected %v", i.Ref(), i.Link, k)
			}
			ends[i] = k
		}
	}
	if !slices.IsSorted(refs) || !slices.IsSorted(trunks) {
		return fmt.Errorf("links not sorted: %v, trunks %v", refs, trunks)
	}
	return checkAllLinked(l, ends)
}

func linkEnds(l *Lab, k *Link) ([]*Interface, error) {
	switch {
	case k.Uplink != nil:
		return nil, fmt.Errorf("link %v has an uplink", k)
	case k.Kind == Peer && (k.B == nil || k.Bridge != nil || k.A.Ref() >= k.B.Ref()):
		return nil, fmt.Errorf("bad peer link %v", k)
	case k.Kind == Peer:
		return []*Interface{k.A, k.B}, nil
	case k.Bridge == nil || k.B != nil || k.A.OnHost() || l.Bridge(k.Bridge.Name) != k.Bridge:
		return nil, fmt.Errorf("bad port link %v", k)
	}
	return []*Interface{k.A}, nil
}

// checkTrunk checks trunk k, the i-th link: it follows every other kind
// of link and joins two distinct bridges of the lab.
func checkTrunk(l *Lab, k *Link, i int) error {
	switch {
	case k.A != nil || k.B != nil || k.Bridge == nil || k.Uplink == nil || k.Bridge == k.Uplink:
		return fmt.Errorf("bad trunk %v", k)
	case l.Bridge(k.Bridge.Name) != k.Bridge || l.Bridge(k.Uplink.Name) != k.Uplink:
		return fmt.Errorf("trunk %v joins a bridge not in the lab", k)
	case i+1 < len(l.Links) && l.Links[i+1].Kind != Trunk:
		return fmt.Errorf("trunk %v before the %v link %v", k, l.Links[i+1].Kind, l.Links[i+1])
	}
	return nil
}

func checkAllLinked(l *Lab, ends map[*Interface]*Link) error {
	all := slices.Clone(l.Host)
	for _, n := range l.Nodes {
		for _, i := range n.Interfaces {
			if i.IsCable() {
				all = append(all, i)
				continue
			}
			if err := checkMade(n, i); err != nil {
				return err
			}
		}
	}
	overlaid := 0
	for _, i := range all {
		if i.Overlay != nil && i.IsCable() {
			// An overlay's interface is in no link: it is on an overlay of
			// the lab, over an interface of its node that is.
			u := l.underlayOf(i)
			if i.Link != nil || l.Overlay(i.Overlay.Name) != i.Overlay || u == nil || ends[u] == nil {
				return fmt.Errorf("overlay interface %s: link %v, overlay %s, underlay %q", i.Ref(), i.Link, i.Overlay.Name, i.Underlay)
			}
			overlaid++
			continue
		}
		if !i.IsCable() {
			// A sub-interface, bond, dummy or vrf is made in its node.
			if i.Link != nil {
				return fmt.Errorf("%s %s is in link %v", i.Kind, i.Ref(), i.Link)
			}
			overlaid++
			continue
		}
		if ends[i] == nil {
			return fmt.Errorf("interface %s is in no link", i.Ref())
		}
	}
	if len(ends) != len(all)-overlaid {
		return fmt.Errorf("links have %d ends, the lab %d interfaces", len(ends), len(all))
	}
	return nil
}

func dumpService(w func(int, string, ...any), s *Service) {
	w(1, "service %s @%s command %q shell %v @%s", s.Ref(), at(s.Pos), s.Command, s.Shell, at(s.CommandPos))
	w(2, "env %q dir %q user %q restart %s stop %s %s", s.Env, s.Dir, s.User, s.Restart, s.StopSignal, s.StopGrace)
	if r := s.Ready; r != nil {
		w(2, "ready tcp %q http %q command %q shell %v @%s timeout %s interval %s @%s", r.TCP, r.HTTP, r.Command, r.Shell, at(r.CommandPos), r.Timeout, r.Interval, at(r.Pos))
	}
	for _, a := range s.After {
		w(2, "after %s @%s", a, at(a.Pos))
	}
}

// checkMade checks an interface made inside a node: no cable; a parent
// of the node for a sub-interface, a VLAN id in range; members of the
// node, each with the master set.
func checkMade(n *Node, i *Interface) error {
	if i.Link != nil || i.Shape != nil {
		return fmt.Errorf("%s of kind %s has a cable or shape", i.Ref(), i.Kind)
	}
	switch i.Kind {
	case KindVLAN, KindMacvlan, KindIPvlan:
		if p := n.Interface(i.Parent); p == nil || p == i {
			return fmt.Errorf("%s: parent %q", i.Ref(), i.Parent)
		}
		if i.Kind == KindVLAN && (i.VLAN < 1 || i.VLAN > 4094 || i.Protocol == "") {
			return fmt.Errorf("%s: vlan %d protocol %q", i.Ref(), i.VLAN, i.Protocol)
		}
	case KindBond, KindVRF:
		for _, m := range i.Members {
			if mi := n.Interface(m); mi == nil || mi.Master != i.Name {
				return fmt.Errorf("%s: member %s is not enslaved to it", i.Ref(), m)
			}
		}
		if i.Kind == KindVRF && (i.Table < 1 || i.Table == 253 || i.Table == 254 || i.Table == 255) {
			return fmt.Errorf("%s: table %d", i.Ref(), i.Table)
		}
	case KindDummy:
	default:
		return fmt.Errorf("%s: kind %q", i.Ref(), i.Kind)
	}
	return nil
}
