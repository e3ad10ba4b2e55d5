package gen

import (
	"fmt"
	"net/netip"
)

// segment is the addressing of a one-segment lab (Star, Tree): one subnet
// per family; address 0 is the host side of the bridge, address i host i.
type segment struct {
	nets family[netip.Prefix]
	host bool // the bridge gets address 0
}

// newSegment checks the subnets (zero ones take the defaults) for hosts
// hosts plus the host side of the bridge.
func newSegment(sub, sub6 netip.Prefix, v6, host bool, hosts int) (segment, error) {
	s := segment{host: host}
	if !sub.IsValid() {
		sub = DefaultSubnet
	}
	if err := checkSubnet("--subnet", sub, true, hosts+1); err != nil {
		return s, err
	}
	s.nets.v4 = sub
	if !v6 {
		return s, nil
	}
	if !sub6.IsValid() {
		sub6 = DefaultSubnet6
	}
	if err := checkSubnet("--subnet6", sub6, false, hosts+1); err != nil {
		return s, err
	}
	s.nets.v6 = sub6
	return s, nil
}

// at returns address i (0 is the bridge, i the host hi).
func (s segment) at(i int) family[netip.Prefix] {
	return nths(s.nets, 1+i)
}

// bridgeAddrs returns the addresses of the (root) bridge: address 0, if
// the lab is open to the host.
func (s segment) bridgeAddrs() []netip.Prefix {
	if !s.host {
		return nil
	}
	return s.at(0).list()
}

// describe says how the segment is addressed, for the header.
func (s segment) describe(root string) string {
	nets, first := s.nets.v4.String(), s.at(0)
	kept := first.v4.Addr().String()
	if s.nets.v6.IsValid() {
		nets += " and " + s.nets.v6.String()
		kept += " and " + first.v6.Addr().String()
	}
	if s.host {
		return fmt.Sprintf("One subnet, %s; the host side of %s has %s, so the host reaches every node.", nets, root, kept)
	}
	verb := "is"
	if s.nets.v6.IsValid() {
		verb = "are"
	}
	return fmt.Sprintf("One subnet, %s; %s %s kept for the host side of %s, which has no address: the lab is sealed off from the host (nslab gen --host opens it).",
		nets, kept, verb, root)
}
