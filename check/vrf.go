package check

import (
	"strings"

	"github.com/nslab/nslab/topology"
)

// StackNode is the node of a stack: NODE for NODE@VRF, the stack of a
// vrf of the node.
func StackNode(stack string) string {
	node, _, _ := strings.Cut(stack, "@")
	return node
}

// vrfViews splits a node with vrfs into the routing domains the kernel
// gives it: the main table with the interfaces in no vrf, and one view
// NODE@VRF per vrf with the vrf's device, its members (through a bond
// too) and the routes of its table. A node without vrfs is itself.
func vrfViews(n *topology.Node) []*topology.Node {
	var vrfs []string
	for _, i := range n.Interfaces {
		if i.Kind == topology.KindVRF {
			vrfs = append(vrfs, i.Name)
		}
	}
	if len(vrfs) == 0 {
		return []*topology.Node{n}
	}
	vrfOf := func(i *topology.Interface) string {
		for hop := 0; hop < 3 && i != nil; hop++ {
			if i.Kind == topology.KindVRF {
				return i.Name
			}
			i = n.Interface(i.Master)
		}
		return ""
	}
	view := func(name, vrf string) *topology.Node {
		v := *n
		v.Name, v.Interfaces, v.Routes = name, nil, nil
		for _, i := range n.Interfaces {
			if vrfOf(i) == vrf {
				v.Interfaces = append(v.Interfaces, i)
			}
		}
		for _, r := range n.Routes {
			if r.VRF == vrf {
				v.Routes = append(v.Routes, r)
			}
		}
		return &v
	}
	out := []*topology.Node{view(n.Name, "")}
	for _, vrf := range vrfs {
		out = append(out, view(n.Name+"@"+vrf, vrf))
	}
	return out
}
