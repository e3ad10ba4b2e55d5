package topology

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"strings"
)

// MTU limits: 68 is the IPv4 minimum and 65535 the largest veth MTU.
// IPv6 needs at least 1280.
const (
	MinMTU     = 68
	MaxMTU     = 65535
	MinIPv6MTU = 1280
)

// parseAddress parses an interface address such as 10.0.0.2/24: a host
// address with the length of its subnet.
func parseAddress(s string) (netip.Prefix, error) {
	if strings.Contains(s, "%") {
		return netip.Prefix{}, fmt.Errorf("address %s: drop the %%zone: an address belongs to the interface it is on", s)
	}
	pfx, err := netip.ParsePrefix(s)
	if err != nil {
		if a, err2 := netip.ParseAddr(s); err2 == nil {
			return pfx, fmt.Errorf("address %s has no prefix length: write it as %s/%d, with the length of its subnet", s, s, typicalBits(a))
		}
		return pfx, fmt.Errorf("%s is not an IP prefix: %s", s, netipReason(err))
	}
	a := pfx.Addr()
	if why := unusableAddr(a); why != "" {
		return pfx, fmt.Errorf("address %s is %s", s, why)
	}
	if a.Is4() && pfx.Bits() < 31 {
		return pfx, checkIPv4Host(pfx)
	}
	if a.Is6() && pfx.Bits() < 127 && a == pfx.Masked().Addr() {
		return pfx, fmt.Errorf("address %s is the subnet-router anycast address of %s; use a host address such as %s",
			s, pfx.Masked(), netip.PrefixFrom(a.Next(), pfx.Bits()))
	}
	return pfx, nil
}

// typicalBits is the prefix length proposed for an address without one.
func typicalBits(a netip.Addr) int {
	if a.Is4() {
		return 24
	}
	return 64
}

// unusableAddr says why an address cannot be put on an interface.
func unusableAddr(a netip.Addr) string {
	switch {
	case a.Is4In6():
		return "an IPv4-mapped IPv6 address; write the IPv4 address " + a.Unmap().String()
	case a.IsUnspecified():
		return "unspecified (all zeros)"
	case a.IsLoopback():
		return "a loopback address; every node already has lo"
	case a.IsMulticast():
		return "a multicast address"
	case a == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		return "the limited broadcast address"
	}
	return ""
}

// reservedPrefixes are the ranges whose addresses cannot be given to
// interfaces, with why: a subnet or pool that overlaps one (0.0.0.0/0 and
// ::/0 overlap them all) would hand them out.
var reservedPrefixes = []struct {
	pfx netip.Prefix
	why string
}{
	{netip.MustParsePrefix("0.0.0.0/8"), "this network (0.0.0.0/8)"},
	{netip.MustParsePrefix("127.0.0.0/8"), "loopback (127.0.0.0/8)"},
	{netip.MustParsePrefix("224.0.0.0/4"), "multicast (224.0.0.0/4)"},
	{netip.MustParsePrefix("::/8"), "the unspecified, loopback and IPv4-mapped addresses (::/8)"},
	{netip.MustParsePrefix("ff00::/8"), "multicast (ff00::/8)"},
}

// reservedOverlap says which reserved range a subnet or pool overlaps.
func reservedOverlap(pfx netip.Prefix) string {
	for _, r := range reservedPrefixes {
		if r.pfx.Overlaps(pfx) {
			return r.why
		}
	}
	return ""
}

// checkIPv4Host rejects the network and broadcast addresses of a subnet
// shorter than /31.
func checkIPv4Host(pfx netip.Prefix) error {
	a, net := pfx.Addr(), pfx.Masked()
	if a == net.Addr() {
		return fmt.Errorf("address %s is the network address of %s; use a host address such as %s",
			pfx, net, netip.PrefixFrom(a.Next(), pfx.Bits()))
	}
	if a == lastAddr(net) {
		return fmt.Errorf("address %s is the broadcast address of %s; use a host address such as %s",
			pfx, net, netip.PrefixFrom(a.Prev(), pfx.Bits()))
	}
	return nil
}

// lastAddr returns the highest address of an IPv4 prefix.
func lastAddr(pfx netip.Prefix) netip.Addr {
	b := pfx.Addr().As4()
	host := uint32(uint64(1)<<(32-pfx.Bits()) - 1)
	binary.BigEndian.PutUint32(b[:], binary.BigEndian.Uint32(b[:])|host)
	return netip.AddrFrom4(b)
}

func netipReason(err error) string {
	msg := err.Error()
	if i := strings.LastIndex(msg, "): "); i >= 0 {
		msg = msg[i+3:]
	}
	return msg
}

// parseMAC parses a unicast Ethernet address.
func parseMAC(s string) (net.HardwareAddr, error) {
	mac, err := net.ParseMAC(s)
	switch {
	case err != nil || len(mac) != 6:
		return nil, fmt.Errorf("mac %q is not an Ethernet address: write 6 bytes such as 02:00:00:00:00:01", s)
	case mac[0]&1 != 0:
		return nil, fmt.Errorf("mac %s is a multicast address: the low bit of the first byte must be 0 (02:... is a safe, locally administered start)", s)
	case string(mac) == "\x00\x00\x00\x00\x00\x00":
		return nil, fmt.Errorf("mac %s is all zeros", s)
	}
	return mac, nil
}

// parseRouteTo parses the destination of a route: a prefix without host
// bits.
func parseRouteTo(s string) (netip.Prefix, error) {
	pfx, err := netip.ParsePrefix(s)
	if err != nil {
		if a, err2 := netip.ParseAddr(s); err2 == nil {
			return pfx, fmt.Errorf("to %s is an address, not a prefix: write %s for a host route", s, netip.PrefixFrom(a, a.BitLen()))
		}
		return pfx, fmt.Errorf("to %s is not a prefix (or default): %s", s, netipReason(err))
	}
	if pfx.Addr().Is4In6() {
		return pfx, fmt.Errorf("to %s is IPv4-mapped; write the IPv4 prefix", s)
	}
	if pfx != pfx.Masked() {
		return pfx, fmt.Errorf("to %s has host bits set; did you mean %s?", s, pfx.Masked())
	}
	return pfx, nil
}

// parseGateway parses the via of a route.
func parseGateway(s string) (netip.Addr, error) {
	a, err := netip.ParseAddr(s)
	switch {
	case err != nil:
		if _, err2 := netip.ParsePrefix(s); err2 == nil {
			return a, fmt.Errorf("via %s: write the gateway address without a prefix length", s)
		}
		return a, fmt.Errorf("via %s is not an IP address: %s", s, netipReason(err))
	case a.Zone() != "":
		return a, fmt.Errorf("via %s: drop the %%%s zone and give the interface as dev", s, a.Zone())
	case a.Is4In6():
		return a, fmt.Errorf("via %s is IPv4-mapped; write the IPv4 address %s", s, a.Unmap())
	case a.IsUnspecified() || a.IsMulticast() || a.IsLoopback():
		return a, fmt.Errorf("via %s cannot be a gateway", s)
	}
	return a, nil
}
