package kernel

import "fmt"

// TapAdd creates a persistent tap device in the root namespace as a port
// of a bridge, marked as the lab's and up (it has carrier once a program,
// a VM, opens it). User and Group, when set, may open it without
// CAP_NET_ADMIN.
//
// Equivalent to: ip tuntap add NAME mode tap [user USER] [group GROUP];
// ip link set NAME [mtu MTU] group G master MASTER up
type TapAdd struct {
	Name        string
	Tags        Tags
	MTU         int
	Master      string
	User, Group string
}

func (o *TapAdd) Namespace() string { return "" }

func (o *TapAdd) String() string {
	s := "ip tuntap add " + o.Name + " mode tap"
	if o.User != "" {
		s += " user " + o.User
	}
	if o.Group != "" {
		s += " group " + o.Group
	}
	out := []string{s}
	set := fmt.Sprintf("ip link set %s", o.Name)
	if o.MTU > 0 {
		set += fmt.Sprintf(" mtu %d", o.MTU)
	}
	if o.Tags.Group != 0 {
		set += fmt.Sprintf(" group %d", o.Tags.Group)
	}
	out = append(out, set)
	out = append(out, o.Tags.render("", o.Name)...)
	return lines(append(out, fmt.Sprintf("ip link set %s master %s up", o.Name, o.Master))...)
}
