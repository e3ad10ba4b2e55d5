package kernel

import (
	"errors"
	"fmt"
	"sync"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

func (o *BridgeVLANSet) Apply(c *Conn) error {
	h, err := c.Handle("")
	if err != nil {
		return err
	}
	l, err := h.LinkByName(o.Dev)
	if err != nil {
		return opErr("", "finding "+o.Dev, err)
	}
	for _, id := range o.Del {
		err := h.BridgeVlanDel(l, uint16(id), false, false, o.Self, !o.Self)
		if err != nil && !errors.Is(err, unix.ENOENT) && !errors.Is(err, unix.EINVAL) {
			return opErr("", fmt.Sprintf("removing VLAN %d from %s", id, o.Dev), err)
		}
	}
	for _, v := range o.Add {
		if err := h.BridgeVlanAdd(l, uint16(v.ID), v.PVID, v.Untagged, o.Self, !o.Self); err != nil {
			return opErr("", fmt.Sprintf("adding VLAN %s to %s", v, o.Dev), err)
		}
	}
	return nil
}

var bridgeVLANProbe = sync.OnceValue(func() error {
	return onThread(func() error {
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			return fmt.Errorf("unshare: %w", err)
		}
		return nil
	}, func() error {
		h, err := netlink.NewHandle()
		if err != nil {
			return err
		}
		defer h.Close()
		on := true
		err = h.LinkAdd(&netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: "probe0"}, VlanFiltering: &on})
		if errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.EINVAL) {
			return errors.New(BridgeVLANAdvice)
		}
		return err
	})
})

// BridgeVLANSupported reports, probed once per process in a throwaway
// namespace, whether this kernel's bridges filter VLANs; the error says
// what to do when not.
func BridgeVLANSupported() error { return bridgeVLANProbe() }
