package topology

import (
	"cmp"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// entry is one key and its value in a YAML mapping.
type entry struct {
	key    string
	keyPos Pos
	val    *yaml.Node
}

// mapEntries returns the entries of a mapping value, with merge keys (<<)
// applied. Null is an empty mapping. noun names the keys in the message
// about a duplicate key ("key", "node name").
func (p *parser) mapEntries(n *yaml.Node, path, noun string) []entry {
	n = p.deref(n)
	if n == nil || p.aborted {
		return nil
	}
	switch typeOf(n) {
	case tagNull:
		return nil
	case tagMap:
	default:
		p.typeError(n, path, "a mapping")
		return nil
	}
	if !p.visit(n, len(n.Content)/2) {
		return nil
	}
	return p.collect(n.Content, path, noun)
}

// collect returns the entries of the keys and values in pairs, and
// reports duplicate keys.
func (p *parser) collect(pairs []*yaml.Node, path, noun string) []entry {
	seen := make(map[string]Pos, len(pairs)/2)
	out := make([]entry, 0, len(pairs)/2)
	var merged []entry
	for i := 0; i+1 < len(pairs); i += 2 {
		k, v := pairs[i], pairs[i+1]
		if k.Kind == yaml.ScalarNode && k.Tag == tagMerge {
			merged = append(merged, p.mergeEntries(v, path, noun)...)
			continue
		}
		e, ok := p.entry(k, v, path)
		if !ok {
			continue
		}
		if first, dup := seen[e.key]; dup {
			p.errorf(e.keyPos, "duplicate %s %q in %s (first at %s)", noun, e.key, where(path), first)
			continue
		}
		seen[e.key] = e.keyPos
		out = append(out, e)
	}
	for _, e := range merged {
		if _, dup := seen[e.key]; !dup {
			seen[e.key] = e.keyPos
			out = append(out, e)
		}
	}
	return out
}

// mergeEntries returns the entries that "<<: value" adds: those of one
// mapping or of a list of mappings, earlier ones first.
func (p *parser) mergeEntries(n *yaml.Node, path, noun string) []entry {
	n = p.deref(n)
	if n == nil || n.Kind != yaml.SequenceNode {
		return p.mergedMap(n, path+".<<", noun)
	}
	var out []entry
	for _, m := range n.Content {
		out = append(out, p.mergedMap(m, path+".<<", noun)...)
	}
	return out
}

// mergedMap returns the entries of a mapping that a merge key adds. Each
// mapping is read once, however often it is merged: in a chain of merges
// that doubles at each step (a "billion laughs" of merges) the entries of
// each step are few, since merged keys collapse. Each use still counts
// its entries against the alias budget.
func (p *parser) mergedMap(n *yaml.Node, path, noun string) []entry {
	if n = p.deref(n); n == nil {
		return nil
	}
	if es, ok := p.merged[n]; ok {
		if !p.visit(n, len(es)) {
			return nil
		}
		return es
	}
	es := p.mapEntries(n, path, noun)
	p.merged[n] = es
	return es
}

// entry reads the key k of the value v, which must be a scalar. The key
// is where it is written, also when it is an alias.
func (p *parser) entry(k, v *yaml.Node, path string) (entry, bool) {
	pos := p.posOf(k)
	if k = p.deref(k); k == nil {
		return entry{}, false
	}
	if k.Kind != yaml.ScalarNode {
		p.errorf(p.posOf(k), "%s: keys must be names, got %s", where(path), describe(k))
		return entry{}, false
	}
	return entry{key: k.Value, keyPos: pos, val: v}, true
}

// str decodes a string. Numbers are taken as written: name: 2024 is the
// name "2024".
func (p *parser) str(n *yaml.Node, path string) (string, Pos, bool) {
	n = p.deref(n)
	if n == nil {
		return "", Pos{}, false
	}
	switch typeOf(n) {
	case tagStr, tagInt, tagFloat:
		return n.Value, p.posOf(n), true
	}
	p.typeError(n, path, "a string")
	return "", Pos{}, false
}

// integer decodes an integer in [lo, hi].
func (p *parser) integer(n *yaml.Node, path string, lo, hi int64) (int, Pos, bool) {
	n = p.deref(n)
	if n == nil {
		return 0, Pos{}, false
	}
	t := typeOf(n)
	if t == tagFloat && isDecimal(n.Value) {
		t = tagInt // too large for yaml.v3, which calls it a float
	}
	if t != tagInt {
		p.typeError(n, path, "an integer")
		return 0, Pos{}, false
	}
	if err := plainDecimal(n.Value); err != nil {
		p.errorf(p.posOf(n), "%s: %v", path, err)
		return 0, Pos{}, false
	}
	v, ok := intValue(n.Value)
	if !ok || v < lo || v > hi {
		p.errorf(p.posOf(n), "%s: %s is out of range: it must be from %d to %d", path, n.Value, lo, hi)
		return 0, Pos{}, false
	}
	return int(v), p.posOf(n), true
}

// intValue returns the value of the text of an !!int, as yaml.v3 reads
// it (0x, 0o, 0b, a leading 0 for octal, _ between digits); false if it
// does not fit an int64.
func intValue(s string) (int64, bool) {
	v, err := strconv.ParseInt(strings.ReplaceAll(s, "_", ""), 0, 64)
	return v, err == nil
}

// plainDecimal refuses an integer not written as plain decimal digits:
// a sign (+1500), a leading zero (01500, which YAML reads as octal 832),
// underscores (1_500) or a base (0x5dc, 0o2734, 0b1). Such numbers are
// read differently by different readers; the message names the decimal
// form to write.
func plainDecimal(s string) error {
	digits := strings.TrimPrefix(s, "-")
	if digits != "" && strings.Trim(digits, "0123456789") == "" && (digits == "0" || digits[0] != '0') {
		return nil
	}
	unsigned := strings.TrimLeft(s, "+-")
	if len(unsigned) > 1 && unsigned[0] == '0' && strings.Trim(unsigned, "0123456789_") == "" {
		meant := cmp.Or(strings.TrimLeft(strings.ReplaceAll(unsigned, "_", ""), "0"), "0")
		if strings.HasPrefix(s, "-") {
			meant = "-" + meant
		}
		if v, ok := intValue(s); ok && strconv.FormatInt(v, 10) != meant {
			return fmt.Errorf("%s has a leading zero, which YAML reads as octal (%d): write %s, or %d if octal was meant", short(s), v, meant, v)
		}
		return fmt.Errorf("%s has a leading zero: write %s", short(s), meant)
	}
	if v, ok := intValue(s); ok {
		return fmt.Errorf("%s is not written in decimal: write %d (digits only, no sign, _ or base prefix)", short(s), v)
	}
	return fmt.Errorf("%s is not a decimal integer: write it with the digits 0-9 only", short(s))
}

// isDecimal reports whether s is written as a decimal integer.
func isDecimal(s string) bool {
	s = strings.TrimLeft(s, "+-")
	return s != "" && strings.Trim(s, "0123456789_") == "" && s[0] != '_'
}

func (p *parser) boolean(n *yaml.Node, path string) (bool, bool) {
	n = p.deref(n)
	if n == nil {
		return false, false
	}
	if typeOf(n) != tagBool {
		p.typeError(n, path, "true or false")
		return false, false
	}
	return boolValue(n), true
}

// boolValue returns the value of an !!bool: true, True or TRUE, or false.
func boolValue(n *yaml.Node) bool { return strings.EqualFold(n.Value, "true") }

// list returns the items of a sequence; null is empty. With scalarOK, a
// lone scalar is a list of one.
func (p *parser) list(n *yaml.Node, path string, scalarOK bool) []*yaml.Node {
	n = p.deref(n)
	if n == nil || p.aborted {
		return nil
	}
	switch t := typeOf(n); {
	case t == tagNull:
		return nil
	case t == tagSeq:
		if !p.visit(n, len(n.Content)) {
			return nil
		}
		return n.Content
	case t != tagMap && scalarOK:
		return []*yaml.Node{n}
	}
	p.typeError(n, path, "a list")
	return nil
}

func (p *parser) typeError(n *yaml.Node, path, want string) {
	p.errorf(p.posOf(n), "%s: expected %s, got %s", where(path), want, describe(n))
}

// where names a path for a message.
func where(path string) string {
	if path == "" {
		return "the top level"
	}
	return path
}

// describe names the type of a YAML value, and a short scalar's text.
func describe(n *yaml.Node) string {
	switch typeOf(n) {
	case tagMap:
		return "a mapping"
	case tagSeq:
		return "a list"
	case tagNull:
		return "nothing (null)"
	case tagBool:
		return "the boolean " + strconv.FormatBool(boolValue(n))
	case tagInt:
		return "the integer " + short(n.Value)
	case tagFloat:
		return "the number " + short(n.Value)
	}
	return "the string " + shortQuote(n.Value)
}

// shortQuote quotes s, or its first 37 bytes and "..." when it is longer
// than 40: messages never quote more of a value, which may be a line of a
// file that is not a topology.
func shortQuote(s string) string { return strconv.Quote(short(s)) }

// short returns s, or its first 37 bytes and "..." when it is longer
// than 40.
func short(s string) string {
	if len(s) <= 40 {
		return s
	}
	cut := 37
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}
