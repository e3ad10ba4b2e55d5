package topology

import (
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestNameRules(t *testing.T) {
	long := func(n int) string { return strings.Repeat("a", n) }
	tests := []struct {
		name                    string
		lab, node, bridge, ifok bool
	}{
		{"ns1", true, true, true, true},
		{"A-b_9", true, true, true, true},
		{"9", true, true, true, true},
		{"_x", false, false, false, true},
		{"-x", false, false, false, false},
		{".x", false, false, false, false},
		{"eth0.10", false, false, false, true},
		{"host", true, false, true, true},
		{"lo", true, true, true, false},
		{"all", true, true, true, false},
		{"a/b", false, false, false, false},
		{"a b", false, false, false, false},
		{"é", false, false, false, false},
		{"a\x00", false, false, false, false},
		{"", false, false, false, false},
		{long(15), true, true, true, true},
		{long(16), true, true, true, false},
		{long(24), true, true, true, false},
		{long(25), false, true, true, false},
		{long(32), false, true, true, false},
		{long(33), false, false, false, false},
	}
	for _, tt := range tests {
		got := [4]bool{ValidLabName(tt.name) == nil, ValidNodeName(tt.name) == nil,
			ValidBridgeName(tt.name) == nil, ValidInterfaceName(tt.name) == nil}
		if want := [4]bool{tt.lab, tt.node, tt.bridge, tt.ifok}; got != want {
			t.Errorf("%q: lab, node, bridge, interface valid = %v, want %v", tt.name, got, want)
		}
	}
}

func TestNameMessages(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{ValidNodeName(strings.Repeat("n", 40)), `node name "` + strings.Repeat("n", 40) + `" is 40 bytes long; the limit is 32`},
		{ValidInterfaceName("eth0:1"), `interface name "eth0:1" contains ":"; use letters, digits, '_', '.' and '-', not starting with '.' or '-'`},
		{ValidNodeName("host"), `node name "host" is reserved: host:IFNAME names an interface on the host`},
		{ValidLabName("a\tb"), `lab name "a\tb" contains the control character U+0009; use letters, digits, '_' and '-', starting with a letter or digit`},
	}
	for _, tt := range tests {
		if tt.err == nil || tt.err.Error() != tt.want {
			t.Errorf("got %v, want %s", tt.err, tt.want)
		}
	}
}

func TestParseAddress(t *testing.T) {
	tests := []struct {
		in, want, err string
	}{
		{in: "10.0.0.2/24", want: "10.0.0.2/24"},
		{in: "10.0.0.0/31", want: "10.0.0.0/31"},
		{in: "10.0.0.1/31", want: "10.0.0.1/31"},
		{in: "10.0.0.0/32", want: "10.0.0.0/32"},
		{in: "fd00::/127", want: "fd00::/127"},
		{in: "fd00::1/64", want: "fd00::1/64"},
		{in: "fe80::1/64", want: "fe80::1/64"},
		{in: "10.0.0.0/24", err: "network address of 10.0.0.0/24; use a host address such as 10.0.0.1/24"},
		{in: "10.0.0.255/24", err: "broadcast address of 10.0.0.0/24; use a host address such as 10.0.0.254/24"},
		{in: "10.0.1.255/23", err: "broadcast address of 10.0.0.0/23; use a host address such as 10.0.1.254/23"},
		{in: "fd00::/64", err: "subnet-router anycast address of fd00::/64; use a host address such as fd00::1/64"},
		{in: "10.0.0.300/24", err: "10.0.0.300/24 is not an IP prefix: "},
		{in: "10.0.0.2", err: "write it as 10.0.0.2/24"},
		{in: "fe80::1%eth0/64", err: "drop the %zone"},
		{in: "224.0.0.5/24", err: "multicast"},
		{in: "0.0.0.0/8", err: "unspecified"},
		{in: "::ffff:1.2.3.4/120", err: "write the IPv4 address 1.2.3.4"},
	}
	for _, tt := range tests {
		got, err := parseAddress(tt.in)
		switch {
		case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
			t.Errorf("parseAddress(%q): error %v, want one containing %q", tt.in, err, tt.err)
		case tt.err == "" && (err != nil || got != netip.MustParsePrefix(tt.want)):
			t.Errorf("parseAddress(%q) = %v, %v; want %s", tt.in, got, err, tt.want)
		}
	}
}

func TestParseMAC(t *testing.T) {
	for in, want := range map[string]string{
		"02:00:00:00:00:01":       "",
		"02-AB-00-00-00-01":       "",
		"0200.0000.0001":          "",
		"01:00:5e:00:00:01":       "multicast",
		"00:00:00:00:00:00":       "all zeros",
		"02:00:00:00:00":          "not an Ethernet address",
		"02:00:00:00:00:00:00:01": "not an Ethernet address",
	} {
		_, err := parseMAC(in)
		if (err == nil) != (want == "") || err != nil && !strings.Contains(err.Error(), want) {
			t.Errorf("parseMAC(%q): %v, want %q", in, err, want)
		}
	}
}

func TestParseRoute(t *testing.T) {
	for in, want := range map[string]string{
		"10.0.0.0/8": "",
		"::/0":       "",
		"10.0.0.1/8": "did you mean 10.0.0.0/8?",
		"10.1.2.3":   "write 10.1.2.3/32 for a host route",
		"fd00::1":    "write fd00::1/128 for a host route",
		"nowhere":    "is not a prefix (or default)",
	} {
		_, err := parseRouteTo(in)
		if (err == nil) != (want == "") || err != nil && !strings.Contains(err.Error(), want) {
			t.Errorf("parseRouteTo(%q): %v, want %q", in, err, want)
		}
	}
	for in, want := range map[string]string{
		"10.0.0.1":     "",
		"fe80::1":      "",
		"10.0.0.1/24":  "without a prefix length",
		"fe80::1%eth0": "give the interface as dev",
		"0.0.0.0":      "cannot be a gateway",
		"gw":           "is not an IP address",
	} {
		_, err := parseGateway(in)
		if (err == nil) != (want == "") || err != nil && !strings.Contains(err.Error(), want) {
			t.Errorf("parseGateway(%q): %v, want %q", in, err, want)
		}
	}
}

func TestClosest(t *testing.T) {
	keys := []string{"addresses", "link", "mac", "mtu"}
	for in, want := range map[string]string{
		"adresses": "addresses", "MTU": "mtu", "lnk": "link", "links": "link",
		"speed": "", "m": "", "addr": "",
	} {
		if got := closest(in, keys); got != want {
			t.Errorf("closest(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestErrorList(t *testing.T) {
	l := ErrorList{
		{Pos: Pos{File: "a.yaml", Line: 3, Col: 1}, Msg: "third"},
		{Pos: Pos{File: "a.yaml", Line: 1, Col: 9}, Msg: "second"},
		{Pos: Pos{File: "a.yaml", Line: 1, Col: 2}, Msg: "first"},
		{Pos: Pos{File: "a.yaml"}, Msg: "file"},
	}
	want := "a.yaml: file\na.yaml:1:2: first\na.yaml:1:9: second\na.yaml:3:1: third"
	if got := l.Error(); got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	var e *Error
	if !errors.As(error(l), &e) || e.Msg != "third" {
		t.Errorf("errors.As found %v", e)
	}
}

func TestParseCases(t *testing.T) {
	tests := []struct {
		name, yaml string
		errs       []string // exact messages, without position
	}{
		{name: "cable declared on both sides", yaml: `
nodes:
  a: {interfaces: {e0: {link: b:e0}}}
  b: {interfaces: {e0: {link: a:e0}}}`},
		{name: "host interface names the node", yaml: `
nodes:
  a: {interfaces: {e0: {}}}
host: {interfaces: {up: {link: a:e0}}}`},
		{name: "host link on both sides", yaml: `
nodes:
  a: {interfaces: {e0: {link: host:up}}}
host: {interfaces: {up: {link: a:e0}}}`},
		{name: "host interface disagrees", yaml: `
nodes:
  a: {interfaces: {e0: {link: host:up}, e1: {}}}
host: {interfaces: {up: {link: a:e1}}}`, errs: []string{
			"link a:e0 -- host:up: host:up links to a:e1 instead (at t.yaml:4:32); declare a cable on one side only, or on both alike",
			"link host:up -- a:e1: a:e0 links to host:up (at t.yaml:3:31); declare a cable on one side only, or on both alike",
		}},
		{name: "scalar address", yaml: `
bridges: {br0: {addresses: 10.0.0.1/24}}`},
		{name: "mtu shared over a cable", yaml: `
nodes:
  a: {interfaces: {e0: {link: b:e0, mtu: 1400}}}
  b: {interfaces: {e0: {mtu: 1400}}}`},
		{name: "gateway via dev", yaml: `
nodes:
  a:
    interfaces: {e0: {link: b:e0, addresses: [10.0.0.1/24]}, e1: {link: b:e1, addresses: [10.1.0.1/24]}}
    routes: [{to: 10.9.0.0/16, via: 10.1.0.2, dev: e0}]
  b: {interfaces: {e0: {}, e1: {}}}`, errs: []string{
			"gateway 10.1.0.2 is not on any subnet of a:e0 (e0 has 10.0.0.1/24); add an address in its subnet to e0, or use the dev that reaches it",
		}},
		{name: "no lab at all", yaml: "name: x", errs: []string{"the lab declares no nodes and no bridges: add nodes:"}},
		{name: "null lab sections", yaml: "name: x\nbridges:\nnodes:\nhost:\n", errs: []string{
			"the lab declares no nodes and no bridges: add nodes:"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("t.yaml", []byte(tt.yaml))
			var got []string
			var list ErrorList
			if errors.As(err, &list) {
				for _, e := range list {
					got = append(got, e.Msg)
				}
			} else if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if diff := cmp.Diff(tt.errs, got); diff != "" {
				t.Errorf("errors differ (-want +got):\n%s\n%v", diff, err)
			}
		})
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	if _, err := Load(filepath.Join(dir, "missing.yaml")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Load of a missing file: %v", err)
	}
	big := filepath.Join(dir, "big.yaml")
	if err := os.WriteFile(big, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(big, MaxFileSize+1); err != nil {
		t.Fatal(err)
	}
	_, err := Load(big)
	if want := big + ": the file is 8.0 MiB (8388609 bytes); topology files are limited to 8 MiB (8388608 bytes)"; err == nil || err.Error() != want {
		t.Errorf("Load of a big file: %v, want %s", err, want)
	}
	lab, err := Load(filepath.Join("testdata", "good", "seed.yaml"))
	if err != nil || lab.Name != "seed" || lab.File != filepath.Join("testdata", "good", "seed.yaml") {
		t.Errorf("Load: %v, %v", lab, err)
	}
}

// TestAliasBomb checks that aliases cannot blow a small file up.
func TestAliasBomb(t *testing.T) {
	var b strings.Builder
	b.WriteString("bridges: {br0: }\nnodes:\n  n0:\n    interfaces: &ifs\n")
	for i := range 1000 {
		fmt.Fprintf(&b, "      e%d: {link: br0}\n", i)
	}
	for i := 1; i < 5000; i++ {
		fmt.Fprintf(&b, "  n%d: {interfaces: *ifs}\n", i)
	}
	start := cpuTime()
	_, err := Parse("bomb.yaml", []byte(b.String()))
	if err == nil || !strings.Contains(err.Error(), "aliases expand the file by more than 1000000 YAML nodes") {
		t.Errorf("Parse: %v", err)
	}
	if d := cpuTime() - start; d > 5*time.Second {
		t.Errorf("Parse took %v of CPU time", d)
	}
}
