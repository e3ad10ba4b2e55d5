package topology

import (
	"errors"
	"fmt"
	"strings"
)

// Name limits, in bytes.
const (
	// MaxLabName keeps "LAB.NODE" namespace names and "NAME.LAB" altnames
	// short.
	MaxLabName = 24
	// MaxNodeName applies to node and bridge names.
	MaxNodeName = 32
	// MaxIfName is IFNAMSIZ-1, the kernel's limit on interface names.
	MaxIfName = 15
)

// nameRule describes one kind of name.
type nameRule struct {
	what    string
	max     int
	dots    bool // '.' allowed after the first byte
	charset string
}

var (
	labRule = nameRule{what: "lab name", max: MaxLabName,
		charset: "letters, digits, '_' and '-', starting with a letter or digit"}
	nodeRule = nameRule{what: "node name", max: MaxNodeName,
		charset: labRule.charset}
	bridgeRule = nameRule{what: "bridge name", max: MaxNodeName,
		charset: labRule.charset}
	ifRule = nameRule{what: "interface name", max: MaxIfName, dots: true,
		charset: "letters, digits, '_', '.' and '-', not starting with '.' or '-'"}
)

// Reserved interface names: every namespace has lo, and all and default
// name the per-family settings under /proc/sys/net/ipv4/conf.
var reservedIfNames = map[string]string{
	"lo":      "every node already has its loopback lo",
	"all":     "it clashes with /proc/sys/net/*/conf/all",
	"default": "it clashes with /proc/sys/net/*/conf/default",
}

// ValidLabName reports whether s can name a lab.
func ValidLabName(s string) error { return labRule.check(s) }

// ValidNodeName reports whether s can name a node. "host" is reserved for
// the root namespace.
func ValidNodeName(s string) error {
	if s == HostNode {
		return errors.New(`node name "host" is reserved: host:IFNAME names an interface on the host`)
	}
	return nodeRule.check(s)
}

// MaxHostname is the kernel's limit on a hostname (__NEW_UTS_LEN).
const MaxHostname = 64

// ValidHostname reports whether s is a hostname as RFC 1123 has it: dot-
// separated labels of letters, digits and '-', each 1 to 63 bytes, not
// starting or ending with '-', at most MaxHostname bytes in all.
func ValidHostname(s string) error {
	if s == "" {
		return errors.New("hostname is empty; leave the key out to use the node's name")
	}
	if len(s) > MaxHostname {
		return fmt.Errorf("hostname %s is %d bytes long; the limit is %d", shortQuote(s), len(s), MaxHostname)
	}
	for _, l := range strings.Split(s, ".") {
		switch {
		case l == "":
			return fmt.Errorf("hostname %q has an empty label; write labels separated by single dots", s)
		case len(l) > 63:
			return fmt.Errorf("hostname %q has a label of %d bytes; the limit is 63", s, len(l))
		case l[0] == '-' || l[len(l)-1] == '-':
			return fmt.Errorf("hostname %q has a label %q that starts or ends with '-'; use letters or digits there", s, l)
		}
		for _, c := range l {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return fmt.Errorf("hostname %q contains %s; use letters, digits, '-' and '.' (RFC 1123)", s, describeRune(c, false))
			}
		}
	}
	return nil
}

// ValidBridgeName reports whether s can name a bridge.
func ValidBridgeName(s string) error { return bridgeRule.check(s) }

// ValidInterfaceName reports whether s can name an interface.
func ValidInterfaceName(s string) error {
	if why, ok := reservedIfNames[s]; ok {
		return fmt.Errorf("interface name %q is reserved: %s", s, why)
	}
	return ifRule.check(s)
}

func (r nameRule) check(s string) error {
	if s == "" {
		return fmt.Errorf("%s is empty", r.what)
	}
	if len(s) > r.max {
		return fmt.Errorf("%s %s is %d bytes long; the limit is %d", r.what, shortQuote(s), len(s), r.max)
	}
	for i, c := range s {
		if !r.allowed(c, i == 0) {
			return fmt.Errorf("%s %q contains %s; use %s", r.what, s, describeRune(c, i == 0), r.charset)
		}
	}
	return nil
}

func (r nameRule) allowed(c rune, first bool) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	case c == '_':
		return !first || r.dots
	case c == '-':
		return !first
	case c == '.':
		return !first && r.dots
	}
	return false
}

func describeRune(c rune, first bool) string {
	where := ""
	if first {
		where = " at the start"
	}
	switch {
	case c == ' ':
		return "a space" + where
	case c < ' ' || c == 0x7f:
		return fmt.Sprintf("the control character %U", c)
	case c > 0x7f:
		return fmt.Sprintf("the non-ASCII character %q", c)
	}
	return fmt.Sprintf("%q%s", string(c), where)
}

// quoteList formats names for a message: "a, b, c", shortened after ten.
func quoteList(names []string) string {
	const show = 10
	if len(names) <= show {
		return strings.Join(names, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(names[:show], ", "), len(names)-show)
}
