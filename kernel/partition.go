package kernel

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// Partition makes a node drop every packet from and to the addresses in
// Drop (a table inet nslab-partition in its namespace, with input and
// output chains), and what comes in from the addresses of each Block
// (one-way faults), or, with both empty, takes the table away.
//
// Equivalent to: ip netns exec NS nft -f - (the table)
type Partition struct {
	NS   string
	Drop []netip.Addr
	// Scoped drops addresses only through some of the node's interfaces:
	// a node with vrfs where one address is two nodes', one on each side,
	// in two of its vrfs.
	Scoped []ScopedDrop
	Block  []Block
}

// ScopedDrop drops what comes in from or goes out to Addrs through the
// interfaces Devs (a vrf and its members: the kernel's hooks see a vrf's
// traffic on the vrf device and on the member).
type ScopedDrop struct {
	Devs  []string
	Addrs []netip.Addr
}

// rules renders the scoped drop's rules of one chain, as nft writes them.
func (d ScopedDrop) rules(in bool) string {
	dir, key := "oifname", "daddr"
	if in {
		dir, key = "iifname", "saddr"
	}
	var devs []string
	for _, n := range d.Devs {
		devs = append(devs, strconv.Quote(n))
	}
	var b strings.Builder
	for _, a := range d.Addrs {
		fam := "ip"
		if a.Is6() {
			fam = "ip6"
		}
		fmt.Fprintf(&b, "    %s { %s } %s %s %s drop\n", dir, strings.Join(devs, ", "), fam, key, a)
	}
	return b.String()
}

// Block drops packets that come in from addresses: all of them, or with
// Loss (a percentage above 0 and below 100) that share, drawn at random
// for each packet (nftables' numgen random: no netem needed).
type Block struct {
	From []netip.Addr
	Loss float64
	// Devs, when set, are the only interfaces the block holds on (a vrf
	// and its members: see ScopedDrop).
	Devs []string
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
	if len(b.Devs) > 0 {
		var devs []string
		for _, n := range b.Devs {
			devs = append(devs, strconv.Quote(n))
		}
		r = "iifname { " + strings.Join(devs, ", ") + " } " + r
	}
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

func (o *Partition) empty() bool { return len(o.Drop) == 0 && len(o.Scoped) == 0 && len(o.Block) == 0 }

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
	var scopedIn, scopedOut string
	for _, d := range o.Scoped {
		scopedIn += d.rules(true)
		scopedOut += d.rules(false)
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
		"  chain input { type filter hook input priority 0; policy accept;\n    ip saddr @drop4 drop\n    ip6 saddr @drop6 drop\n"+scopedIn+blocks+"  }\n"+
		"  chain output { type filter hook output priority 0; policy accept;\n    ip daddr @drop4 drop\n    ip6 daddr @drop6 drop\n"+scopedOut+"  }\n}\nEOF",
		o.NS, PartitionTable, PartitionTable, PartitionTable, set("drop4", "ipv4_addr", v4), set("drop6", "ipv6_addr", v6))
}
