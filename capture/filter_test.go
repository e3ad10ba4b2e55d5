package capture

import (
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"golang.org/x/net/bpf"
)

var (
	macA = net.HardwareAddr{2, 0, 0, 0, 0, 0xa}
	macB = net.HardwareAddr{2, 0, 0, 0, 0, 0xb}
)

func frame(t *testing.T, ls ...gopacket.SerializableLayer) []byte {
	t.Helper()
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// packets are frames of each kind the filters tell apart.
func packets(t *testing.T) map[string][]byte {
	eth := func(typ layers.EthernetType) *layers.Ethernet {
		return &layers.Ethernet{SrcMAC: macA, DstMAC: macB, EthernetType: typ}
	}
	ip4 := func(p layers.IPProtocol, src, dst string) *layers.IPv4 {
		return &layers.IPv4{Version: 4, TTL: 64, Protocol: p, SrcIP: net.ParseIP(src).To4(), DstIP: net.ParseIP(dst).To4()}
	}
	ip6 := func(p layers.IPProtocol) *layers.IPv6 {
		return &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: p, SrcIP: net.ParseIP("fd00::2"), DstIP: net.ParseIP("fd00::3")}
	}
	tcp := &layers.TCP{SrcPort: 40000, DstPort: 80, SYN: true, Window: 1000}
	withOpts := ip4(layers.IPProtocolTCP, "10.0.0.2", "10.1.0.9")
	withOpts.Options = []layers.IPv4Option{{OptionType: 1}, {OptionType: 1}, {OptionType: 1}, {OptionType: 0}}
	tcp.SetNetworkLayerForChecksum(withOpts)
	udp := &layers.UDP{SrcPort: 5353, DstPort: 53}
	ip := ip4(layers.IPProtocolUDP, "10.0.0.3", "10.0.0.2")
	udp.SetNetworkLayerForChecksum(ip)
	frag := ip4(layers.IPProtocolUDP, "10.0.0.3", "10.0.0.2")
	frag.FragOffset = 100
	tcp6 := &layers.TCP{SrcPort: 443, DstPort: 50000, ACK: true, Window: 1000}
	v6 := ip6(layers.IPProtocolTCP)
	tcp6.SetNetworkLayerForChecksum(v6)
	return map[string][]byte{
		"icmp":  frame(t, eth(layers.EthernetTypeIPv4), ip4(layers.IPProtocolICMPv4, "10.0.0.2", "10.0.0.3"), &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(8, 0), Id: 1, Seq: 1}),
		"tcp80": frame(t, eth(layers.EthernetTypeIPv4), withOpts, tcp),
		"udp53": frame(t, eth(layers.EthernetTypeIPv4), ip, udp),
		"frag":  frame(t, eth(layers.EthernetTypeIPv4), frag, gopacket.Payload([]byte{0, 53, 0, 53, 0, 0, 0, 0})),
		"icmp6": frame(t, eth(layers.EthernetTypeIPv6), ip6(layers.IPProtocolICMPv6), gopacket.Payload([]byte{128, 0, 0, 0, 0, 1, 0, 1})),
		"tcp6":  frame(t, eth(layers.EthernetTypeIPv6), v6, tcp6),
		"arp": frame(t, eth(layers.EthernetTypeARP), &layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4,
			HwAddressSize: 6, ProtAddressSize: 4, Operation: 1, SourceHwAddress: macA, SourceProtAddress: []byte{10, 0, 0, 2},
			DstHwAddress: make([]byte, 6), DstProtAddress: []byte{10, 0, 0, 3}}),
	}
}

// TestCompile runs each filter in x/net/bpf's interpreter over frames
// made by gopacket: the filter keeps exactly the frames it should.
func TestCompile(t *testing.T) {
	pk := packets(t)
	names := map[string][]netip.Addr{"h2": {netip.MustParseAddr("10.0.0.2"), netip.MustParseAddr("fd00::2")}}
	for expr, want := range map[string]string{
		"":                                    "arp frag icmp icmp6 tcp6 tcp80 udp53",
		"icmp":                                "icmp",
		"icmp or icmp6":                       "icmp icmp6",
		"ip":                                  "frag icmp tcp80 udp53",
		"ip6":                                 "icmp6 tcp6",
		"arp":                                 "arp",
		"tcp":                                 "tcp6 tcp80",
		"udp":                                 "frag udp53",
		"not ip":                              "arp icmp6 tcp6",
		"host 10.0.0.2":                       "arp frag icmp tcp80 udp53",
		"src host 10.0.0.2":                   "arp icmp tcp80",
		"dst host 10.0.0.2":                   "frag udp53",
		"host h2":                             "arp frag icmp icmp6 tcp6 tcp80 udp53",
		"host fd00::3":                        "icmp6 tcp6",
		"net 10.1.0.0/16":                     "tcp80",
		"net fd00::/8":                        "icmp6 tcp6",
		"port 80":                             "tcp80",
		"udp port 53":                         "udp53",
		"tcp port 53":                         "",
		"src port 443":                        "tcp6",
		"dst port 443":                        "",
		"tcp and not port 80":                 "tcp6",
		"(icmp || udp) && !dst host 10.0.0.2": "icmp",
		"ether src host 02:00:00:00:00:0a":    "arp frag icmp icmp6 tcp6 tcp80 udp53",
		"ether dst host 02:00:00:00:00:0a":    "",
		"ether":                               "arp frag icmp icmp6 tcp6 tcp80 udp53",
	} {
		raw, err := Compile(expr, 65535, names)
		if err != nil {
			t.Errorf("%q: %v", expr, err)
			continue
		}
		ins, ok := bpf.Disassemble(raw)
		if !ok {
			t.Fatalf("%q: cannot disassemble", expr)
		}
		vm, err := bpf.NewVM(ins)
		if err != nil {
			t.Fatalf("%q: %v", expr, err)
		}
		var got []string
		for _, name := range []string{"arp", "frag", "icmp", "icmp6", "tcp6", "tcp80", "udp53"} {
			n, err := vm.Run(pk[name])
			if err != nil {
				t.Fatalf("%q on %s: %v", expr, name, err)
			}
			if n > 0 {
				got = append(got, name)
			}
		}
		if g := strings.Join(got, " "); g != want {
			t.Errorf("%q keeps %q, want %q", expr, g, want)
		}
	}
}

func TestCompileErrors(t *testing.T) {
	for expr, want := range map[string]string{
		"icmp andd":        `unexpected "andd"`,
		"host example.com": "not looked up in DNS",
		"port http":        "write a number",
		"(icmp":            "missing )",
		"icmp and":         "ends too early",
		"vlan":             `"vlan" is not a filter primitive`,
		"host h3":          "the node has no address",
		"net 10.0.0.1":     "write a prefix",
	} {
		_, err := Compile(expr, 65535, map[string][]netip.Addr{"h3": nil})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want %q", expr, err, want)
		}
	}
}
