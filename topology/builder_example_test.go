package topology_test

import (
	"fmt"

	"github.com/nslab/nslab/topology"
)

// Two nodes on a bridge, addressed by nslab from the bridge's subnets.
func ExampleBuilder() {
	b := topology.NewBuilder("web")
	b.Bridge("lan").Subnets("10.1.0.0/24", "fd01::/64")
	b.Node("a").Interface("eth0", "lan")
	b.Node("b").Interface("eth0", "lan")
	t, err := b.Lab()
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, n := range t.Nodes {
		fmt.Println(n.Name, n.Interfaces[0].Name, n.Interfaces[0].Addresses)
	}
	// Output:
	// a eth0 [10.1.0.2/24 fd01::2/64]
	// b eth0 [10.1.0.3/24 fd01::3/64]
}

// Routers in a line with point-to-point cables and automatic routes.
func ExampleBuilder_Cable() {
	b := topology.NewBuilder("line").Routing("auto").Pool("10.9.0.0/16")
	b.Node("r1").Router()
	b.Node("r2").Router()
	b.Cable("r1:eth0", "r2:eth0")
	b.Bridge("lan1")
	b.Node("h1").Interface("eth0", "lan1")
	b.Node("r1").Interface("lan", "lan1")
	t, err := b.Lab()
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, r := range t.Node("h1").Routes {
		fmt.Println("h1:", r.To, "via", r.Via)
	}
	// Output:
	// h1: 0.0.0.0/0 via 10.9.0.3
}

// Errors name the object, where a file's give a line.
func ExampleBuilder_errors() {
	b := topology.NewBuilder("bad")
	b.Bridge("lan")
	b.Node("a").Interface("eth0", "lan9").Addresses("10.0.0.300/24")
	_, err := b.Lab()
	fmt.Println(err)
	// Output:
	// nodes.a.interfaces.eth0.addresses: 10.0.0.300/24 is not an IP prefix: IPv4 field has value >255
	// nodes.a.interfaces.eth0.link: link a:eth0 -- lan9: no bridge named "lan9" (bridges: lan)
}
