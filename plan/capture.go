package plan

import (
	"fmt"
	"strings"

	"github.com/nslab/nslab/topology"
)

// CaptureEnd is where a capture of a lab's interface listens: the named
// namespace ("" for the root namespace) and the interface's kernel name
// there. what is NODE:IF (host:NAME for a host interface) or a bridge's
// name; far asks for the other end of NODE:IF's cable instead: the
// bridge port in the root namespace for a node plugged into a bridge,
// the peer interface for a point-to-point cable.
func CaptureEnd(lab *topology.Lab, what string, far bool) (ns, name string, err error) {
	node, iface, ok := strings.Cut(what, ":")
	if !ok {
		if b := lab.Bridge(what); b != nil {
			if far {
				return "", "", fmt.Errorf("%s is a bridge: --far names the other end of a node's cable", what)
			}
			return "", BridgeName(lab.Name, b.Name), nil
		}
		return "", "", fmt.Errorf("lab %s has no bridge %s; capture NODE:IF, host:NAME or a bridge (%s)", lab.Name, what, bridgeNames(lab))
	}
	if !far && node != topology.HostNode {
		// Any interface of a node: a cable's end, or a vlan, dummy, bond
		// ... that is in no cable.
		if n := lab.Node(node); n != nil && n.Interface(iface) != nil {
			return NetnsName(lab.Name, node), iface, nil
		}
	}
	i, err := findIface(lab, node, iface)
	if err != nil {
		return "", "", err
	}
	if far {
		ns, name = farEnd(lab, i)
		return ns, name, nil
	}
	return nsOf(lab.Name, i), kernelIfName(lab.Name, i), nil
}

func bridgeNames(lab *topology.Lab) string {
	if len(lab.Bridges) == 0 {
		return "it has none"
	}
	var names []string
	for _, b := range lab.Bridges {
		names = append(names, b.Name)
	}
	return "bridges: " + strings.Join(names, ", ")
}
