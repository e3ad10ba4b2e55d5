package kernel

import (
	"fmt"
	"net"
	"os"
	"strings"
)

// Interface kinds made inside a node (IfaceAdd.Kind), with the kernel
// module and configuration option that provide each.
var ifaceModules = map[string][2]string{
	"vlan":    {"8021q", "CONFIG_VLAN_8021Q"},
	"dummy":   {"dummy", "CONFIG_DUMMY"},
	"macvlan": {"macvlan", "CONFIG_MACVLAN"},
	"ipvlan":  {"ipvlan", "CONFIG_IPVLAN"},
	"bond":    {"bonding", "CONFIG_BONDING"},
	"vrf":     {"vrf", "CONFIG_NET_VRF"},
}

// IfaceModule names the kernel module that provides an interface kind.
func IfaceModule(kind string) string { return ifaceModules[kind][0] }

// IfaceAdd creates an interface of a kind inside a node: a vlan, macvlan
// or ipvlan on its parent, a dummy, a bond or a vrf. It is left down;
// LinkSetup brings it up with its addresses, after its lower interfaces
// and its members (IfaceEnslave).
//
// Equivalent to: ip -n NS link add [link PARENT] name NAME [mtu M]
// [address MAC] type KIND [id ID protocol P | mode MODE | miimon MS |
// table T]
type IfaceAdd struct {
	NS, Name string
	// Kind is vlan, dummy, macvlan, ipvlan, bond or vrf.
	Kind   string
	Parent string
	// VLAN and Protocol ("802.1Q", "802.1ad") of a vlan.
	VLAN     int
	Protocol string
	// Mode of a macvlan, ipvlan or bond.
	Mode string
	MTU  int
	MAC  net.HardwareAddr
	// Miimon (milliseconds) and LACPRate ("slow", "fast", "" for the
	// kernel's) of a bond.
	Miimon   int
	LACPRate string
	// Table of a vrf.
	Table int
}

func (o *IfaceAdd) Namespace() string { return o.NS }

func (o *IfaceAdd) String() string {
	link := ""
	if o.Parent != "" {
		link = " link " + o.Parent
	}
	s := fmt.Sprintf("%s link add%s name %s%s type %s", ipn(o.NS), link, o.Name, attrs(o.MTU, o.MAC, 0), o.Kind)
	switch o.Kind {
	case "vlan":
		s += fmt.Sprintf(" protocol %s id %d", o.Protocol, o.VLAN)
	case "macvlan", "ipvlan":
		s += " mode " + o.Mode
	case "bond":
		s += fmt.Sprintf(" mode %s miimon %d", o.Mode, o.Miimon)
		if o.LACPRate != "" {
			s += " lacp_rate " + o.LACPRate
		}
	case "vrf":
		s += fmt.Sprintf(" table %d", o.Table)
	}
	return s
}

// IfaceEnslave makes interfaces of a node members of a bond or a vrf, and
// sets the bond's primary member. A bond's members are taken down first
// (the kernel enslaves only a member that is down); LinkSetup brings them
// up again.
//
// Equivalent to: ip -n NS link set MEMBER down; ip -n NS link set MEMBER
// master MASTER; ip -n NS link set MASTER type bond primary PRIMARY
type IfaceEnslave struct {
	NS, Master string
	// Bond says Master is a bond (its members go down first).
	Bond    bool
	Members []string
	Primary string
}

func (o *IfaceEnslave) Namespace() string { return o.NS }

func (o *IfaceEnslave) String() string {
	var out []string
	for _, m := range o.Members {
		if o.Bond {
			out = append(out, fmt.Sprintf("%s link set %s down", ipn(o.NS), m))
		}
		out = append(out, fmt.Sprintf("%s link set %s master %s", ipn(o.NS), m, o.Master))
	}
	if o.Primary != "" {
		out = append(out, fmt.Sprintf("%s link set %s type bond primary %s", ipn(o.NS), o.Master, o.Primary))
	}
	return lines(out...)
}

// ModuleAdvice says what a user can do about a kernel that lacks a
// module: load it, when this kernel loads modules and has it; else run
// the lab on a kernel built with the option. (This kernel may be built
// without module support, or forbid loading: modprobe would not help.)
func ModuleAdvice(module, option string) string {
	if !modulesLoadable() {
		return fmt.Sprintf("this kernel cannot load modules (%s), so run the lab on a kernel built with %s (most distributions' kernels are)", modulesWhy(), option)
	}
	return fmt.Sprintf("load it with modprobe %s, or use a kernel built with %s", module, option)
}

// modulesLoadable reports whether this kernel loads modules at all.
func modulesLoadable() bool { return modulesWhy() == "" }

// modulesWhy says why this kernel loads no modules, "" if it does.
func modulesWhy() string {
	if _, err := os.Stat("/proc/modules"); err != nil {
		return "it is built without module support: there is no /proc/modules"
	}
	if b, err := os.ReadFile("/proc/sys/kernel/modules_disabled"); err == nil && strings.TrimSpace(string(b)) == "1" {
		return "kernel.modules_disabled is 1"
	}
	return ""
}
