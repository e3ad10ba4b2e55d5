package plan

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sort"

	"github.com/nslab/nslab/topology"
)

// Claims are what a lab takes of the host: subnets on its host-side
// links and published ports. A lab records them (lab.StateDir/LAB/
// claims.json) under the machine-wide lock before it builds, so that a
// lab started at the same moment sees them before they are in the
// kernel.
type Claims struct {
	Subnets []SubnetClaim `json:"subnets,omitempty"`
	Ports   []PortClaim   `json:"ports,omitempty"`
}

// SubnetClaim is a host-side subnet and what carries it.
type SubnetClaim struct {
	Prefix netip.Prefix `json:"prefix"`
	What   string       `json:"what"`
}

// PortClaim is a published port and the host addresses it answers on;
// 0.0.0.0 and :: stand for every address of their family.
type PortClaim struct {
	Proto string       `json:"proto"`
	Port  int          `json:"port"`
	On    []netip.Addr `json:"on"`
}

// ClaimsOf lists what the lab takes of the host.
func ClaimsOf(lab *topology.Lab) Claims {
	var c Claims
	for _, h := range hostPrefixes(lab) {
		if !h.prefix.Addr().IsLinkLocalUnicast() {
			c.Subnets = append(c.Subnets, SubnetClaim{h.prefix, h.what})
		}
	}
	for _, n := range lab.Nodes {
		for _, p := range n.Publish {
			c.Ports = append(c.Ports, portClaim(lab, p))
		}
	}
	return c
}

func portClaim(lab *topology.Lab, p topology.Publish) PortClaim {
	pc := PortClaim{Proto: p.Proto, Port: p.HostPort}
	var labAddrs []netip.Addr
	for _, h := range hostPrefixes(lab) {
		labAddrs = append(labAddrs, h.prefix.Addr())
	}
	for _, to := range []netip.Addr{p.To, p.To6} {
		if !to.IsValid() {
			continue
		}
		on := publishOn(p, to, labAddrs)
		if on == nil {
			on = []netip.Addr{netip.IPv6Unspecified()}
			if to.Is4() {
				on = []netip.Addr{netip.IPv4Unspecified()}
			}
		}
		pc.On = append(pc.On, on...)
	}
	return pc
}

// overlaps reports whether two claims of a port take a common address.
func (a PortClaim) overlaps(b PortClaim) bool {
	if a.Proto != b.Proto || a.Port != b.Port {
		return false
	}
	for _, x := range a.On {
		for _, y := range b.On {
			if x == y || x.Is4() == y.Is4() && (x.IsUnspecified() || y.IsUnspecified()) {
				return true
			}
		}
	}
	return false
}

// CheckClaims fails when the lab claims a subnet or a port that another
// lab, running or being built, has claimed (others, by lab name).
func CheckClaims(lab *topology.Lab, others map[string]Claims) error {
	names := make([]string, 0, len(others))
	for n := range others {
		if n != lab.Name {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	var errs []error
	for _, h := range hostPrefixes(lab) {
		if h.prefix.Addr().IsLinkLocalUnicast() {
			continue
		}
		for _, o := range names {
			if i := slices.IndexFunc(others[o].Subnets, func(s SubnetClaim) bool { return s.Prefix.Overlaps(h.prefix) }); i >= 0 {
				s := others[o].Subnets[i]
				errs = append(errs, fmt.Errorf("%s: %s: %s overlaps %s of lab %s (%s): two labs cannot share a host-side subnet; pick another subnet, or nslab down %s", h.pos, h.what, h.prefix, s.Prefix, o, s.What, o))
			}
		}
	}
	for _, n := range lab.Nodes {
		for _, p := range n.Publish {
			pc := portClaim(lab, p)
			for _, o := range names {
				if slices.ContainsFunc(others[o].Ports, pc.overlaps) {
					errs = append(errs, fmt.Errorf("%s: node %s publishes host port %d/%s, which lab %s publishes already: publish another host port, or nslab down %s", p.Pos, n.Name, p.HostPort, p.Proto, o, o))
				}
			}
		}
	}
	return errors.Join(errs...)
}
