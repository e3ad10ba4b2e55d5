package topology

import (
	"net/netip"
	"strings"
	"testing"
)

// publishLab is one node with IPv4 and IPv6 on a bridge the host is on,
// publishing p (written at t.yaml:6:15).
func publishLab(p string) string {
	return `name: x
bridges: {lan: {addresses: [10.9.0.1/24, fd09::1/64]}}
nodes:
  n1:
    interfaces: {eth0: {link: lan, addresses: [10.9.0.2/24, fd09::2/64]}}
    publish: [` + p + `]
`
}

func TestPublishForms(t *testing.T) {
	v4, v6 := netip.MustParseAddr("10.9.0.2"), netip.MustParseAddr("fd09::2")
	for _, tt := range []struct {
		in      string
		hostIP  string
		to, to6 netip.Addr
		proto   string
	}{
		{"8080:80", "", v4, v6, "tcp"},
		{`"5353:53/udp"`, "", v4, v6, "udp"},
		{"127.0.0.1:8080:80", "127.0.0.1", v4, netip.Addr{}, "tcp"},
		{"0.0.0.0:8080:80", "0.0.0.0", v4, netip.Addr{}, "tcp"},
		{`"[::]:8080:80"`, "::", netip.Addr{}, v6, "tcp"},
		{`"[2001:db8::1]:8080:80/udp"`, "2001:db8::1", netip.Addr{}, v6, "udp"},
	} {
		l, err := Parse("t.yaml", []byte(publishLab(tt.in)))
		if err != nil {
			t.Errorf("%s: %v", tt.in, err)
			continue
		}
		p := l.Node("n1").Publish[0]
		want := netip.Addr{}
		if tt.hostIP != "" {
			want = netip.MustParseAddr(tt.hostIP)
		}
		if p.HostIP != want || p.HostPort != 8080 && p.HostPort != 5353 || p.To != tt.to || p.To6 != tt.to6 || p.Proto != tt.proto {
			t.Errorf("%s: got %+v", tt.in, p)
		}
	}
}

func TestPublishRefused(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"+18090:80", `t.yaml:6:15: publish "+18090:80": host port: +18090 is not written in decimal: write 18090`},
		{"018090:80", `t.yaml:6:15: publish "018090:80": host port: 018090 has a leading zero: write 18090`},
		{"8080:080", `node port: 080 has a leading zero: write 80`},
		{"8080:-80", `node port: "-80" is not a port`},
		{"1.2.3:8080:80", `host address "1.2.3" is not an IP address`},
		{"10.0.0.256:8080:80", `host address "10.0.0.256" is not an IP address`},
		{`"::1:8080:80"`, `write an IPv6 host address in brackets`},
		{`"[::1:8080:80"`, `an IPv6 address is written [ADDRESS]:HOSTPORT:PORT`},
		{`"[10.0.0.1]:8080:80"`, `write an IPv4 host address without brackets`},
		{`"[fe80::1%eth0]:8080:80"`, `a zone (%eth0) is not allowed`},
		{`"[::ffff:10.0.0.1]:8080:80"`, `write the IPv4 address as such (10.0.0.1)`},
		{"224.0.0.1:8080:80", `host address 224.0.0.1 is multicast`},
		{`"[::1]:8080:80"`, `host address ::1: IPv6 does not route`},
		{"1.2.3.4:8080:80:90", `write [IP:]HOSTPORT:PORT`},
		// Ranges, as docker run -p takes them: said to be ranges (it said
		// "is not a decimal integer").
		{"18090-18091:80", `host port: 18090-18091 is a range of ports, which publish does not take: publish each port on its own`},
		{"8080:80-81/udp", `node port: 80-81 is a range of ports`},
	} {
		_, err := Parse("t.yaml", []byte(publishLab(tt.in)))
		if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "t.yaml:6:15: ") {
			t.Errorf("%s: got %v, want an error at t.yaml:6:15 with %q", tt.in, err, tt.want)
		}
	}
}

func TestPublishFamily(t *testing.T) {
	src := `name: x
bridges: {lan: {addresses: [10.9.0.1/24]}}
nodes:
  n1:
    interfaces: {eth0: {link: lan, addresses: [10.9.0.2/24]}}
    publish: ["[::]:8080:80"]
`
	_, err := Parse("t.yaml", []byte(src))
	if err == nil || !strings.Contains(err.Error(), "t.yaml:6:15: node n1 publishes port 80 on the IPv6 address ::, but the host reaches it over IPv4 only") {
		t.Errorf("got %v", err)
	}
}
