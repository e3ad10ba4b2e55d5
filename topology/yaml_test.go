package topology

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// parseMessage returns the error of Parse as text, "" if there is none.
func parseMessage(data string) string {
	_, err := Parse("t.yaml", []byte(data))
	if err == nil {
		return ""
	}
	return err.Error()
}

// TestYAMLLayer checks what the YAML layer adds to yaml.v3: positions for
// its errors, aliases without anchor, and the types of values.
func TestYAMLLayer(t *testing.T) {
	const br = "bridges: {br0: {}}\n"
	star := "name: x\n" + br + "nodes:\n"
	for i := range 20 {
		star += fmt.Sprintf("  n%d: {}\n", i)
	}
	tests := []struct{ name, yaml, want string }{
		{"bad key deep in a mapping", star + "  : {}\n  m: {}\n",
			"t.yaml:24:1: YAML syntax: did not find expected key"},
		{"over-indented key", star + "   m: {}\n",
			"t.yaml:24:1: YAML syntax: did not find expected key"},
		{"list item in a mapping", star + "  - m\n  m: {}\n",
			"t.yaml:24:1: YAML syntax: did not find expected key"},
		{"scanner error", "name: x\nnodes: a: b\n",
			"t.yaml:2:1: YAML syntax: mapping values are not allowed in this context"},
		{"unclosed list", "name: x\n" + br + "nodes:\n  a: {interfaces: [e0}\n  b: {}\n",
			"t.yaml:4:1: YAML syntax: did not find expected ',' or ']'"},
		{"unclosed quote", "name: x\n" + br + "nodes:\n  a: {interfaces: {e0: {link: \"br0}}}\n  b: {}\n",
			"t.yaml:4:1: YAML syntax: found unexpected end of stream: a quoted string is not closed"},
		{"unclosed quote on line 1", "name: \"x\n" + br + "nodes: {}\n",
			"t.yaml:1:1: YAML syntax: found unexpected end of stream: a quoted string is not closed"},
		{"unclosed list at the end", "name: x\n" + br + "nodes: {a: [\n",
			"t.yaml:3:1: YAML syntax: did not find expected node content"},
		{"tab", "name: x\n" + br + "nodes:\n \ta: {}\n",
			"t.yaml:4:2: YAML syntax: found a tab character where a token should start; indent with spaces"},
		{"YAML 1.2 directive", "%YAML 1.2\n---\nname: x\n" + br,
			"t.yaml:1:1: YAML syntax: found incompatible YAML document (only %YAML 1.1 is understood; remove the %YAML line)"},
		{"YAML 1.1 directive", "%YAML 1.1\n---\nname: x\n" + br, ""},
		{"byte order mark", "\uFEFFname: x\n" + br, ""},
		{"control character", "name: x\x01\n" + br,
			"t.yaml:1:8: the file contains the character U+0001, which YAML does not allow; in a double-quoted string write it as an escape"},
		{"escaped control character", "name: \"x\\x01\"\n" + br,
			`t.yaml:1:7: lab name "x\x01" contains the control character U+0001; use letters, digits, '_' and '-', starting with a letter or digit`},
		{"not UTF-8", "name: x\n" + br + "nodes: {é\xff: {}}\n", "t.yaml:3:10: the file is not valid UTF-8"},
		{"alias before its anchor", "name: x\nbridges: {br0: *b, br1: &b {}}\nnodes: {a: {interfaces: {e0: {link: br1}}, router: 1}}\n",
			"t.yaml:2:16: alias *b: no anchor &b is defined before it\n" +
				"t.yaml:3:52: nodes.a.router: expected true or false, got the integer 1"},
		{"alias before directive", "%YAML 1.1\n---\nname: *x\n" + br, "t.yaml:3:7: alias *x: no anchor &x is defined before it"},
		{"alias after ---", "# c\n---\nname: *x\n" + br, "t.yaml:3:7: alias *x: no anchor &x is defined before it"},
		{"alias and syntax error", "name: *x\nnodes: a: b\n",
			"t.yaml:2:1: YAML syntax: mapping values are not allowed in this context"},
		{"alias and block error", star + "  x: *nowhere\n  : {}\n",
			"t.yaml:25:1: YAML syntax: did not find expected key"},
		{"alias in its own anchor", "name: x\n" + br + "nodes: &n\n  a: *n\n",
			"t.yaml:4:6: alias *n is inside the value of its anchor &n, which cannot contain itself"},
		{"alias as a key", "name: x\n" + br + "nodes:\n  &k a: {}\n  *k : {}\n",
			`t.yaml:5:3: duplicate node name "a" in nodes (first at t.yaml:4:6)`},
		{"merge of a list", "name: x\n" + br + "nodes:\n  a: &a {router: true}\n  b: {<<: [*a, {router: 5}], interfaces: {}}\n", ""},
		{"yes is a string", "name: x\n" + br + "nodes: {a: {router: yes}}\n",
			`t.yaml:3:21: nodes.a.router: expected true or false, got the string "yes"`},
		{"True is a boolean", "name: x\n" + br + "nodes: {a: {router: True}}\n", ""},
		{"explicit !!str", "name: x\n" + br + "nodes: {a: {interfaces: {e0: {link: br0, mtu: !!str 1500}}}}\n",
			`t.yaml:3:53: nodes.a.interfaces.e0.mtu: expected an integer, got the string "1500"`},
		{"other tags are ignored", "name: x\n" + br + "nodes: {a: {interfaces: {e0: {link: !x br0, mtu: !!int 1500}}}}\n", ""},
		{"anchored value", "name: x\n" + br + "nodes: {a: {interfaces: {e0: {link: br0, mtu: &m  !x 50}}}}\n",
			"t.yaml:3:54: nodes.a.interfaces.e0.mtu: 50 is out of range: it must be from 68 to 65535"},
		{"anchored block mapping", "name: x\n" + br + "nodes:\n  a: &a\n    router: 5\n",
			"t.yaml:5:13: nodes.a.router: expected true or false, got the integer 5"},
		{"number beyond int64", "name: x\n" + br + "nodes: {a: {interfaces: {e0: {link: br0, mtu: 18446744073709551615}}}}\n",
			"t.yaml:3:47: nodes.a.interfaces.e0.mtu: 18446744073709551615 is out of range: it must be from 68 to 65535"},
		{"sysctl integers in decimal", "name: x\n" + br + "nodes: {a: {sysctls: {net.a: 0x10, net.b: 0o17, net.c: 1_000}}}\n", ""},
		{"second document", "name: x\n" + br + "---\nname: y\n",
			"t.yaml:4:1: a topology file holds one YAML document; remove this one or its --- line"},
		{"empty second document", "name: x\n" + br + "---\n", ""},
		{"empty first document", "---\n---\nname: x\n" + br, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := parseMessage(tt.yaml); got != tt.want {
				t.Errorf("got:\n%s\nwant:\n%s", got, tt.want)
			}
		})
	}
}

// TestSysctlIntegers checks that integers are written in decimal.
func TestSysctlIntegers(t *testing.T) {
	lab, err := Parse("t.yaml", []byte("name: x\nnodes: {a: {sysctls: {net.a: 0x10, net.b: 0o17, net.c: 1_000, net.d: 18446744073709551615, net.e: on}}}\n"))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range lab.Nodes[0].Sysctls {
		got = append(got, s.Key+"="+s.Value)
	}
	if want := "net.a=16 net.b=15 net.c=1000 net.d=18446744073709551615 net.e=on"; strings.Join(got, " ") != want {
		t.Errorf("got %s, want %s", strings.Join(got, " "), want)
	}
}

// TestSysctlWords: a value of several words (ip_local_port_range's two
// ports) is kept with one space between them; before, it was refused as
// "must be one word without spaces". An empty value and a quote stay
// refused at their place.
func TestSysctlWords(t *testing.T) {
	lab, err := Parse("t.yaml", []byte("name: x\nnodes: {a: {sysctls: {net.ipv4.ip_local_port_range: \"1024\\t 65000 \", net.ipv4.tcp_rmem: 4096 131072 6291456}}}\n"))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range lab.Nodes[0].Sysctls {
		got = append(got, s.Key+"="+s.Value)
	}
	if want := "net.ipv4.ip_local_port_range=1024 65000|net.ipv4.tcp_rmem=4096 131072 6291456"; strings.Join(got, "|") != want {
		t.Errorf("got %s, want %s", strings.Join(got, "|"), want)
	}
	for yaml, want := range map[string]string{
		`name: x` + "\n" + `nodes: {a: {sysctls: {net.a: " "}}}`:    `t.yaml:2:30: nodes.a.sysctls.net.a: value " " is empty; write a number, a boolean or words`,
		`name: x` + "\n" + `nodes: {a: {sysctls: {net.a: "1 '2"}}}`: `t.yaml:2:30: nodes.a.sysctls.net.a: value "1 '2" contains "'"; a value uses letters, digits, spaces between words`,
	} {
		if got := parseMessage(yaml + "\n"); !strings.HasPrefix(got, want) {
			t.Errorf("%s:\ngot  %s\nwant %s...", yaml, got, want)
		}
	}
}

// TestDeepNesting checks that yaml.v3 bounds nesting by itself, quickly
// and with a position, in flow and in block style.
func TestDeepNesting(t *testing.T) {
	tests := []struct{ yaml, want string }{
		{"name: x\nnodes: " + strings.Repeat("[", 10000) + strings.Repeat("]", 10000) + "\n",
			"t.yaml:2:8: nodes: expected a mapping, got a list"},
		{"name: x\nnodes: " + strings.Repeat("{a: ", 10000) + "1" + strings.Repeat("}", 10000) + "\n",
			`t.yaml:2:13: unknown key "a" in nodes.a (allowed keys: host, hostname, interfaces, publish, router, routes, services, sysctls)`},
		{"name: x\nnodes:\n" + strings.Repeat("- ", 10000) + "x\n",
			"t.yaml:3:1: nodes: expected a mapping, got a list"},
		{"name: x\nnodes: " + strings.Repeat("[", 10001) + "\n",
			"t.yaml:2:1: lists and mappings nest deeper than 10000 levels"},
		{"name: x\nnodes:\n" + strings.Repeat("- ", 10001) + "x\n",
			"t.yaml:3:1: lists and mappings nest deeper than 10000 levels"},
		{"name: x\nnodes:\n" + deepBlock(4000), `t.yaml:4:4: unknown key "k1" in nodes.k0 (allowed keys: host, hostname, interfaces, publish, router, routes, services, sysctls)`},
	}
	for _, tt := range tests {
		start := cpuTime()
		if got := parseMessage(tt.yaml); got != tt.want {
			t.Errorf("%.40q...: got\n%s\nwant\n%s", tt.yaml, got, tt.want)
		}
		if d := cpuTime() - start; d > 2*time.Second {
			t.Errorf("%.40q...: took %v of CPU time", tt.yaml, d)
		}
	}
}

// deepBlock returns a block mapping nested n deep, indented by one more
// space at each level.
func deepBlock(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "%s k%d:\n", strings.Repeat(" ", i+1), i)
	}
	return b.String()
}
