package main

// ---------------------------------------------------------------------
// FALLBACK GENERATOR. Used only when `nslab gen` fails (the command is
// being written while this bench is). Remove it once `nslab gen` has
// landed: the bench then always drives the real CLI.
// ---------------------------------------------------------------------

import (
	"fmt"
	"net/netip"
	"strings"
)

// fallbackHeader opens every file the fallback writes, so that a reader
// of the file and of RESULTS.md sees where it came from.
const fallbackHeader = "# Written by the FALLBACK generator of bench/ (genfallback.go), because\n" +
	"# `nslab gen` failed. Lab-only subnets inside 10.0.0.0/16 and fd10::/48.\n"

// fallbackStar is a star of n nodes h1…hn on one bridge br0, dual-stack
// unless ipv4Only, like examples/seed.yaml: the bridge's host side has
// 10.0.0.1/16 and fd10::1/64, node hI has 10.0.x.y/16 and fd10::(I+1)/64.
// One bridge holds at most 1024 ports, so n must stay below that.
func fallbackStar(name string, n int, ipv4Only bool) string {
	var sb strings.Builder
	sb.WriteString(fallbackHeader)
	fmt.Fprintf(&sb, "name: %s\nbridges:\n", name)
	fmt.Fprintf(&sb, "  br0: {addresses: [%s]}\nnodes:\n", addrs(1, 0, ipv4Only, 16))
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&sb, "  h%d:\n    interfaces:\n      eth0: {link: br0, addresses: [%s]}\n",
			i, addrs(i+1, 0, ipv4Only, 16))
	}
	return sb.String()
}

// fallbackLANs is n nodes spread over LANs of at most perLAN nodes, one
// bridge each (a bridge holds at most 1024 ports), joined by one router
// node r0 with an interface on every LAN; every node has default routes
// via r0. LAN k is 10.0.16k.0/20 and fd10:0:0:k::/64; r0 is .1 on each.
// It stands in for `nslab gen leaf-spine` and for a star spread over
// several trunked bridges, which the fallback does not depend on.
func fallbackLANs(name string, n, perLAN int, ipv4Only bool) string {
	lans := (n + perLAN - 1) / perLAN
	var sb strings.Builder
	sb.WriteString(fallbackHeader)
	fmt.Fprintf(&sb, "name: %s\nbridges:\n", name)
	for k := 0; k < lans; k++ {
		fmt.Fprintf(&sb, "  br%d: {}\n", k)
	}
	sb.WriteString("nodes:\n  r0:\n    router: true\n    interfaces:\n")
	for k := 0; k < lans; k++ {
		fmt.Fprintf(&sb, "      eth%d: {link: br%d, addresses: [%s]}\n", k, k, addrs(1, k, ipv4Only, 20))
	}
	for i := 0; i < n; i++ {
		k, j := i/perLAN, i%perLAN
		fmt.Fprintf(&sb, "  h%d:\n    interfaces:\n      eth0: {link: br%d, addresses: [%s]}\n", i+1, k, addrs(j+2, k, ipv4Only, 20))
		gw4, gw6 := lanAddr(1, k, 20)
		fmt.Fprintf(&sb, "    routes:\n      - {to: default, via: %s}\n", gw4)
		if !ipv4Only {
			fmt.Fprintf(&sb, "      - {to: default, via: \"%s\"}\n", gw6)
		}
	}
	return sb.String()
}

// lanAddr is host number i of LAN k: 10.0.0.0/bits4 blocks in IPv4 (k
// selects the block) and fd10:0:0:k::/64 in IPv6.
func lanAddr(i, k, bits4 int) (netip.Addr, netip.Addr) {
	base := uint32(10<<24) + uint32(k)<<(32-bits4) + uint32(i)
	v4 := netip.AddrFrom4([4]byte{byte(base >> 24), byte(base >> 16), byte(base >> 8), byte(base)})
	var b16 [16]byte
	b16[0], b16[1] = 0xfd, 0x10
	b16[6], b16[7] = byte(k>>8), byte(k)
	b16[14], b16[15] = byte(i>>8), byte(i)
	return v4, netip.AddrFrom16(b16)
}

func addrs(i, k int, ipv4Only bool, bits4 int) string {
	v4, v6 := lanAddr(i, k, bits4)
	if ipv4Only {
		return fmt.Sprintf("%s/%d", v4, bits4)
	}
	return fmt.Sprintf("%s/%d, \"%s/64\"", v4, bits4, v6)
}
