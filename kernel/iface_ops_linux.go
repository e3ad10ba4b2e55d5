package kernel

import (
	"errors"
	"fmt"
	"sync"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// link is the netlink form of the interface, its parent resolved by h.
func (o *IfaceAdd) link(h *netlink.Handle) (netlink.Link, error) {
	attrs := netlink.NewLinkAttrs()
	attrs.Name, attrs.MTU, attrs.HardwareAddr = o.Name, o.MTU, o.MAC
	if o.Parent != "" {
		p, err := h.LinkByName(o.Parent)
		if err != nil {
			return nil, fmt.Errorf("finding parent %s: %w", o.Parent, err)
		}
		attrs.ParentIndex = p.Attrs().Index
	}
	switch o.Kind {
	case "vlan":
		proto := netlink.VLAN_PROTOCOL_8021Q
		if o.Protocol == "802.1ad" {
			proto = netlink.VLAN_PROTOCOL_8021AD
		}
		return &netlink.Vlan{LinkAttrs: attrs, VlanId: o.VLAN, VlanProtocol: proto}, nil
	case "dummy":
		return &netlink.Dummy{LinkAttrs: attrs}, nil
	case "macvlan":
		return &netlink.Macvlan{LinkAttrs: attrs, Mode: macvlanModes[o.Mode]}, nil
	case "ipvlan":
		return &netlink.IPVlan{LinkAttrs: attrs, Mode: ipvlanModes[o.Mode]}, nil
	case "bond":
		b := netlink.NewLinkBond(attrs)
		b.Mode = netlink.StringToBondMode(o.Mode)
		b.Miimon = o.Miimon
		if o.LACPRate != "" {
			b.LacpRate = netlink.StringToBondLacpRate(o.LACPRate)
		}
		return b, nil
	case "vrf":
		return &netlink.Vrf{LinkAttrs: attrs, Table: uint32(o.Table)}, nil
	}
	return nil, fmt.Errorf("unknown interface kind %q", o.Kind)
}

var macvlanModes = map[string]netlink.MacvlanMode{
	"bridge": netlink.MACVLAN_MODE_BRIDGE, "private": netlink.MACVLAN_MODE_PRIVATE,
	"vepa": netlink.MACVLAN_MODE_VEPA, "passthru": netlink.MACVLAN_MODE_PASSTHRU,
}

var ipvlanModes = map[string]netlink.IPVlanMode{
	"l2": netlink.IPVLAN_MODE_L2, "l3": netlink.IPVLAN_MODE_L3, "l3s": netlink.IPVLAN_MODE_L3S,
}

func (o *IfaceAdd) Apply(c *Conn) error {
	h, err := c.Handle(o.NS)
	if err != nil {
		return err
	}
	desc := fmt.Sprintf("creating %s %s", o.Kind, o.Name)
	if o.Parent != "" {
		desc += " on " + o.Parent
	}
	l, err := o.link(h)
	if err != nil {
		return opErr(o.NS, desc, err)
	}
	return opErr(o.NS, desc, kindErr(o.Kind, h.LinkAdd(l)))
}

// kindErr names the missing kernel module when the kernel does not know
// the kind of interface.
func kindErr(kind string, err error) error {
	if errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.ENOENT) && kind != "" {
		m := ifaceModules[kind]
		return fmt.Errorf("%w: this kernel has no %s interfaces (module %s); %s", err, kind, m[0], ModuleAdvice(m[0], m[1]))
	}
	return err
}

func (o *IfaceEnslave) Apply(c *Conn) error {
	h, err := c.Handle(o.NS)
	if err != nil {
		return err
	}
	master, err := h.LinkByName(o.Master)
	if err != nil {
		return opErr(o.NS, "finding "+o.Master, err)
	}
	for _, m := range o.Members {
		l, err := h.LinkByName(m)
		if err != nil {
			return opErr(o.NS, "finding "+m, err)
		}
		if l.Attrs().MasterIndex == master.Attrs().Index {
			continue
		}
		if o.Bond {
			if err := h.LinkSetDown(l); err != nil {
				return opErr(o.NS, "taking "+m+" down to enslave it", err)
			}
		}
		if err := h.LinkSetMasterByIndex(l, master.Attrs().Index); err != nil {
			return opErr(o.NS, fmt.Sprintf("making %s a member of %s", m, o.Master), err)
		}
	}
	if o.Primary == "" {
		return nil
	}
	p, err := h.LinkByName(o.Primary)
	if err != nil {
		return opErr(o.NS, "finding "+o.Primary, err)
	}
	b := netlink.NewLinkBond(netlink.LinkAttrs{Name: o.Master, Index: master.Attrs().Index})
	b.Primary = p.Attrs().Index
	return opErr(o.NS, fmt.Sprintf("making %s the primary member of %s", o.Primary, o.Master), h.LinkModify(b))
}

var kindProbes sync.Map // kind -> error

// IfaceSupported reports whether this kernel makes interfaces of the kind
// (vlan, dummy, macvlan, ipvlan, bond, vrf): it makes one in a throwaway
// namespace, on a veth pair for those that need a parent, once per
// process. The error names the module and what to do.
func IfaceSupported(kind string) error {
	if err, ok := kindProbes.Load(kind); ok {
		return nilOrErr(err)
	}
	err := onThread(func() error {
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			return fmt.Errorf("unshare: %w", err)
		}
		return nil
	}, func() error {
		o := &IfaceAdd{Name: "probe0", Kind: kind, VLAN: 1, Protocol: "802.1Q", Mode: map[string]string{"macvlan": "bridge", "ipvlan": "l3", "bond": "active-backup"}[kind], Table: 10}
		if kind == "vlan" || kind == "macvlan" || kind == "ipvlan" {
			veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "probe1"}, PeerName: "probe2"}
			if err := netlink.LinkAdd(veth); err != nil {
				return fmt.Errorf("making a veth pair to probe %s on: %w", kind, err)
			}
			o.Parent = "probe1"
		}
		h, err := netlink.NewHandle()
		if err != nil {
			return err
		}
		defer h.Close()
		l, err := o.link(h)
		if err != nil {
			return err
		}
		return kindErr(kind, h.LinkAdd(l))
	})
	kindProbes.Store(kind, err)
	return err
}
