package check

import (
	"fmt"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// forgetNeighbours deletes the neighbour entries (ARP and NDP) that the
// kernel learnt in the namespace at nsPath, as ip neigh flush does;
// entries set by hand (permanent, noarp) stay. Equivalent to:
//
//	ip -n NS neigh flush all
func forgetNeighbours(nsPath string) error {
	ns, err := netns.GetFromPath(nsPath)
	if err != nil {
		return fmt.Errorf("opening %s: %w", nsPath, err)
	}
	defer ns.Close()
	h, err := netlink.NewHandleAt(ns, unix.NETLINK_ROUTE)
	if err != nil {
		return fmt.Errorf("netlink in %s: %w", nsPath, err)
	}
	defer h.Close()
	for _, fam := range []int{netlink.FAMILY_V4, netlink.FAMILY_V6} {
		ns, err := h.NeighList(0, fam)
		if err != nil {
			return fmt.Errorf("listing neighbours in %s: %w", nsPath, err)
		}
		for i := range ns {
			if ns[i].State&(netlink.NUD_PERMANENT|netlink.NUD_NOARP) != 0 || ns[i].Flags&netlink.NTF_EXT_LEARNED != 0 {
				continue
			}
			if err := h.NeighDel(&ns[i]); err != nil && err != unix.ENOENT {
				return fmt.Errorf("deleting neighbour %s in %s: %w", ns[i].IP, nsPath, err)
			}
		}
	}
	return nil
}
