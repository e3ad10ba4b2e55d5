package topology

import (
	"fmt"
	"math"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

func decodeRoutes(p *parser, d *nodeDecl, e entry, path string) {
	for i, n := range p.list(e.val, path, false) {
		if n = p.deref(n); n == nil {
			continue
		}
		r := &routeDecl{ok: true}
		r.r.Pos = p.posOf(n)
		rpath := listPath(path, i)
		decodeFields(p, n, rpath, routeFields, r)
		p.finishRoute(r, rpath)
		d.routes = append(d.routes, r)
	}
}

func decodeRouteTo(p *parser, r *routeDecl, e entry, path string) {
	s, pos, ok := p.str(e.val, path)
	r.hasTo, r.toPos = true, pos
	switch {
	case !ok:
		r.ok = false
	case s == "default":
		r.toDefault = true
	default:
		pfx, err := parseRouteTo(s)
		if err != nil {
			p.errorf(pos, "%v", err)
			r.ok = false
			return
		}
		r.r.To = pfx
	}
}

func decodeRouteVia(p *parser, r *routeDecl, e entry, path string) {
	s, pos, ok := p.str(e.val, path)
	if !ok {
		r.ok = false
		return
	}
	a, err := parseGateway(s)
	if err != nil {
		p.errorf(pos, "%v", err)
		r.ok = false
		return
	}
	r.r.Via, r.viaPos = a, pos
}

func decodeRouteDev(p *parser, r *routeDecl, e entry, path string) {
	s, pos, ok := p.str(e.val, path)
	r.r.Dev, r.devPos = s, pos
	r.ok = r.ok && ok
}

func decodeRouteVRF(p *parser, r *routeDecl, e entry, path string) {
	s, pos, ok := p.str(e.val, path)
	r.vrf, r.vrfPos = s, pos
	r.ok = r.ok && ok
}

func decodeRouteMetric(p *parser, r *routeDecl, e entry, path string) {
	var ok bool
	r.r.Metric, _, ok = p.integer(e.val, path, 0, math.MaxUint32)
	r.ok = r.ok && ok
}

// finishRoute checks what a route needs as a whole, and resolves "to:
// default" by the family of via.
func (p *parser) finishRoute(r *routeDecl, path string) {
	switch {
	case !r.hasTo:
		p.errorf(r.r.Pos, "%s: a route needs to: (a prefix, or default)", path)
		r.ok = false
	case !r.r.Via.IsValid() && r.r.Dev == "":
		if r.ok {
			p.errorf(r.r.Pos, "%s: a route needs via:, dev: or both", path)
		}
		r.ok = false
	}
	if !r.ok {
		return
	}
	if r.toDefault {
		p.resolveDefault(r, path)
		return
	}
	if r.r.Via.IsValid() && r.r.Via.Is4() != r.r.To.Addr().Is4() {
		p.errorf(r.viaPos, "%s: via %s and to %s are of different IP families", path, r.r.Via, r.r.To)
		r.ok = false
	}
}

func (p *parser) resolveDefault(r *routeDecl, path string) {
	switch {
	case !r.r.Via.IsValid():
		p.errorf(r.toPos, "%s: to: default takes its IP family from via; without via write 0.0.0.0/0 or ::/0", path)
		r.ok = false
	case r.r.Via.Is4():
		r.r.To = netip.PrefixFrom(netip.IPv4Unspecified(), 0)
	default:
		r.r.To = netip.PrefixFrom(netip.IPv6Unspecified(), 0)
	}
}

func decodeSysctls(p *parser, d *nodeDecl, e entry, path string) {
	for _, se := range p.mapEntries(e.val, path, "sysctl") {
		if err := checkSysctlKey(se.key); err != nil {
			p.errorf(se.keyPos, "%v", err)
			continue
		}
		if v, ok := p.sysctlValue(se, join(path, se.key)); ok {
			d.n.Sysctls = append(d.n.Sysctls, Sysctl{Key: se.key, Value: v, Pos: se.keyPos})
		}
	}
	slices.SortFunc(d.n.Sysctls, func(a, b Sysctl) int { return strings.Compare(a.Key, b.Key) })
}

// checkSysctlKey accepts per-namespace keys: net.*, in the dotted form.
func checkSysctlKey(k string) error {
	if !strings.HasPrefix(k, "net.") {
		return fmt.Errorf("sysctl %q: only net.* settings belong to a network namespace", k)
	}
	for _, c := range k {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.') {
			return fmt.Errorf("sysctl %q contains %s; keys use a-z, 0-9, '_', '-' and '.' (net.ipv4.ip_forward)", k, describeRune(c, false))
		}
	}
	if strings.Contains(k, "..") || strings.HasSuffix(k, ".") {
		return fmt.Errorf("sysctl %q has an empty component; write it like net.ipv4.ip_forward", k)
	}
	return nil
}

// sysctlValue decodes a scalar sysctl value: booleans become 1 and 0,
// integers are written in decimal, words are separated by one space.
func (p *parser) sysctlValue(e entry, path string) (string, bool) {
	n := p.deref(e.val)
	if n == nil {
		return "", false
	}
	var v string
	switch typeOf(n) {
	case tagBool:
		v = map[bool]string{true: "1", false: "0"}[boolValue(n)]
	case tagInt:
		v = integerText(n.Value)
	case tagStr, tagFloat:
		v = n.Value
	default:
		p.typeError(n, path, "a number, a boolean or a word")
		return "", false
	}
	// A value of several words (net.ipv4.ip_local_port_range: "1024
	// 65000", tcp_rmem's three numbers) is kept with one space between
	// words, as the kernel reads it.
	words := strings.FieldsFunc(v, isSpace)
	if len(words) == 0 {
		p.errorf(p.posOf(n), "%s: value %s is empty; write a number, a boolean or words", path, strconv.Quote(v))
		return "", false
	}
	v = strings.Join(words, " ")
	if i := strings.IndexFunc(v, func(r rune) bool { return r != ' ' && !sysctlValueChar(r) }); i >= 0 {
		r, _ := utf8.DecodeRuneInString(v[i:])
		p.errorf(p.posOf(n), "%s: value %s contains %s; a value uses letters, digits, spaces between words and . , : _ - + / = @",
			path, strconv.Quote(v), describeRune(r, false))
		return "", false
	}
	return v, true
}

// sysctlValueChar reports whether a sysctl value may contain c. Values are
// numbers, words and addresses; the plan prints them in shell commands,
// so quotes, $, ;, control characters and the like are refused.
func sysctlValueChar(c rune) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	return strings.ContainsRune(".,:_-+/=@", c)
}

// integerText writes the text of an !!int in decimal.
func integerText(s string) string {
	if v, ok := intValue(s); ok {
		return strconv.FormatInt(v, 10)
	}
	if v, err := strconv.ParseUint(strings.ReplaceAll(s, "_", ""), 0, 64); err == nil {
		return strconv.FormatUint(v, 10)
	}
	return s
}

func isSpace(r rune) bool {
	return r == ' ' || r == '\t' || r == '\n' || r == '\r' || r == '\v' || r == '\f' || r == 0x85 || r == 0xa0
}
