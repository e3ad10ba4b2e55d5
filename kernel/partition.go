package kernel

import (
	"fmt"
	"net/netip"
	"strings"
)

// Partition makes a node drop every packet from and to the addresses in
// Drop (a table inet nslab-partition in its namespace, with input and
// output chains), and what comes in from the addresses of each Block
// (one-way faults), or, with both empty, takes the table away.
//
// Equivalent to: ip netns exec NS nft -f - (the table)
type Partition struct {
	NS    string
	Drop  []netip.Addr
	Block []Block
}

// Block drops packets that come in from addresses: all of them, or with
// Loss (a percentage above 0 and below 100) that share, drawn at random
// for each packet (nftables' numgen random: no netem needed).
type Block struct {
	From []netip.Addr
	Loss float64
}

// lossBasis is what a loss is counted in: numgen random mod 10000 below
// the loss in hundredths of a percent.
const lossBasis = 10000

// threshold is the loss in hundredths of a percent; 0 for no draw.
func (b Block) threshold() uint32 {
	if b.Loss <= 0 || b.Loss >= 100 {
		return 0
	}
	return uint32(b.Loss*lossBasis/100 + 0.5)
}

// rule renders the block's rule for one address, as nft writes it.
func (b Block) rule(a netip.Addr) string {
	fam := "ip"
	if a.Is6() {
		fam = "ip6"
	}
	r := fam + " saddr " + a.String()
	if d := b.drawString(); d != "" {
		r += " " + d
	}
	return r + " drop"
}

// drawString renders the random draw of the loss, as nft writes it; ""
// for none.
func (b Block) drawString() string {
	if th := b.threshold(); th > 0 {
		return fmt.Sprintf("numgen random mod %d < %d", lossBasis, th)
	}
	return ""
}

func (o *Partition) empty() bool { return len(o.Drop) == 0 && len(o.Block) == 0 }

func (o *Partition) Namespace() string { return o.NS }

func (o *Partition) String() string {
	del := fmt.Sprintf("ip netns exec %s nft delete table inet %s", o.NS, PartitionTable)
	if o.empty() {
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
	var blocks string
	if len(o.Block) > 0 {
		blocks = "    icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert } accept\n"
	}
	for _, b := range o.Block {
		for _, a := range b.From {
			blocks += "    " + b.rule(a) + "\n"
		}
	}
	return fmt.Sprintf("ip netns exec %s nft -f - <<'EOF'\ntable inet %s\ndelete table inet %s\ntable inet %s {\n%s%s"+
		"  chain input { type filter hook input priority 0; policy accept;\n    ip saddr @drop4 drop\n    ip6 saddr @drop6 drop\n"+blocks+"  }\n"+
		"  chain output { type filter hook output priority 0; policy accept;\n    ip daddr @drop4 drop\n    ip6 daddr @drop6 drop\n  }\n}\nEOF",
		o.NS, PartitionTable, PartitionTable, PartitionTable, set("drop4", "ipv4_addr", v4), set("drop6", "ipv6_addr", v6))
}
