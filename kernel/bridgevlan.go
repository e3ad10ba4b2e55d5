package kernel

import (
	"fmt"
	"strings"
)

// BridgeVLANAdvice says what to do on a kernel whose bridges filter no
// VLANs: it is a build option of the bridge, not a module to load.
const BridgeVLANAdvice = "this kernel's bridge was built without VLAN filtering (CONFIG_BRIDGE_VLAN_FILTERING), which no module adds: use a kernel that has it, as Debian's, Fedora's and Ubuntu's do, or leave vlan and vlans out"

// BridgeVLAN is one VLAN of a bridge port (or of the bridge's own host
// side): PVID makes it the VLAN of untagged frames coming in, Untagged
// sends its frames out without a tag.
type BridgeVLAN struct {
	ID       int
	PVID     bool
	Untagged bool
}

func (v BridgeVLAN) String() string {
	s := fmt.Sprintf("vid %d", v.ID)
	if v.PVID {
		s += " pvid"
	}
	if v.Untagged {
		s += " untagged"
	}
	return s
}

// BridgeVLANSet gives a port of a VLAN-filtering bridge (Self: the
// bridge's own host side) VLANs and takes others away, in the root
// namespace. Deleting a VLAN the port does not have is fine.
//
// Equivalent to: bridge vlan del dev DEV vid ID [self]; bridge vlan add
// dev DEV vid ID [pvid] [untagged] [self]
type BridgeVLANSet struct {
	Dev  string
	Self bool
	Del  []int
	Add  []BridgeVLAN
}

func (o *BridgeVLANSet) Namespace() string { return "" }

func (o *BridgeVLANSet) String() string {
	self := ""
	if o.Self {
		self = " self"
	}
	var out []string
	for _, id := range o.Del {
		out = append(out, fmt.Sprintf("bridge vlan del dev %s vid %d%s", o.Dev, id, self))
	}
	for _, v := range o.Add {
		out = append(out, fmt.Sprintf("bridge vlan add dev %s %s%s", o.Dev, v, self))
	}
	return strings.Join(out, "\n")
}
