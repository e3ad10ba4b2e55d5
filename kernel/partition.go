package kernel

import (
	"fmt"
	"net/netip"
	"strings"
)

// Partition makes a node drop every packet from and to the addresses in
// Drop (a table inet nslab-partition in its namespace, with input and
// output chains), or, with Drop empty, takes the table away.
//
// Equivalent to: ip netns exec NS nft -f - (the table)
type Partition struct {
	NS   string
	Drop []netip.Addr
}

func (o *Partition) Namespace() string { return o.NS }

func (o *Partition) String() string {
	del := fmt.Sprintf("ip netns exec %s nft delete table inet %s", o.NS, PartitionTable)
	if len(o.Drop) == 0 {
		return del
	}
	var v4, v6 []string
	for _, a := range o.Drop {
		if a.Is4() {
			v4 = append(v4, a.String())
		} else {
			v6 = append(v6, a.String())
		}
	}
	set := func(name, typ string, elems []string) string {
		if len(elems) == 0 {
			return fmt.Sprintf("  set %s { type %s; }\n", name, typ)
		}
		return fmt.Sprintf("  set %s { type %s; elements = { %s } }\n", name, typ, strings.Join(elems, ", "))
	}
	return fmt.Sprintf("ip netns exec %s nft -f - <<'EOF'\ntable inet %s\ndelete table inet %s\ntable inet %s {\n%s%s"+
		"  chain input { type filter hook input priority 0; policy accept;\n    ip saddr @drop4 drop\n    ip6 saddr @drop6 drop\n  }\n"+
		"  chain output { type filter hook output priority 0; policy accept;\n    ip daddr @drop4 drop\n    ip6 daddr @drop6 drop\n  }\n}\nEOF",
		o.NS, PartitionTable, PartitionTable, PartitionTable, set("drop4", "ipv4_addr", v4), set("drop6", "ipv6_addr", v6))
}
