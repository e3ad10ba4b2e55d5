package kernel

import (
	"fmt"
	"net/netip"

	"github.com/vishvananda/netlink"
)

// UnderlayOf finds the interface of the calling thread's network
// namespace (the machine's root) that holds addr, with its MTU.
//
// Equivalent to: ip -o addr show to ADDR; ip link show DEV
func UnderlayOf(addr netip.Addr) (Underlay, error) {
	h, err := netlink.NewHandle()
	if err != nil {
		return Underlay{}, opErr("", "finding the underlay of "+addr.String(), err)
	}
	defer h.Close()
	addrs, err := retryDump(func() ([]netlink.Addr, error) { return h.AddrList(nil, netlink.FAMILY_ALL) })
	if err != nil {
		return Underlay{}, opErr("", "listing addresses", err)
	}
	for _, a := range addrs {
		if ip, ok := netip.AddrFromSlice(a.IP); !ok || ip.Unmap() != addr.Unmap() {
			continue
		}
		l, err := h.LinkByIndex(a.LinkIndex)
		if err != nil {
			return Underlay{}, opErr("", fmt.Sprintf("reading the interface of %s", addr), err)
		}
		return Underlay{Dev: l.Attrs().Name, MTU: l.Attrs().MTU}, nil
	}
	return Underlay{}, fmt.Errorf("no interface of this machine has address %s", addr)
}
