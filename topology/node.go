package topology

import (
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// Short tags of the YAML types the format tells apart.
const (
	tagNull  = "!!null"
	tagBool  = "!!bool"
	tagInt   = "!!int"
	tagFloat = "!!float"
	tagStr   = "!!str"
	tagMerge = "!!merge"
	tagMap   = "!!map"
	tagSeq   = "!!seq"
)

// typeOf returns the type of a value: for a plain scalar, the type YAML
// 1.2 gives its text (yes and no are strings); a quoted or block scalar
// is a string. An explicit !!str tag makes a string; other tags are
// ignored. Timestamps are strings.
func typeOf(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return tagMap
	case yaml.SequenceNode:
		return tagSeq
	}
	tag := n.Tag
	if n.Style&yaml.TaggedStyle != 0 && tag != tagStr {
		tag = (&yaml.Node{Kind: yaml.ScalarNode, Style: n.Style &^ yaml.TaggedStyle, Value: n.Value}).ShortTag()
	}
	switch tag {
	case tagNull, tagBool, tagInt, tagFloat:
		return tag
	}
	return tagStr
}

// deref follows an alias to the node its anchor names. It returns nil
// after reporting an alias that has no anchor before it, or that is inside
// the value of its own anchor.
func (p *parser) deref(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		switch {
		case n.Alias == nil || n.Alias.Line <= p.prelude:
			p.errorf(p.posOf(n), "alias *%s: no anchor &%s is defined before it", n.Value, n.Value)
			return nil
		case p.cyclic[n]:
			p.errorf(p.posOf(n), "alias *%s is inside the value of its anchor &%s, which cannot contain itself", n.Value, n.Value)
			return nil
		}
		n = n.Alias
	}
	return n
}

// visit counts a decoded collection of size items and reports false once
// aliases have expanded the file past maxAliasNodes.
func (p *parser) visit(n *yaml.Node, size int) bool {
	p.visited += 1 + size
	if p.visited <= p.nodes+maxAliasNodes {
		return true
	}
	if !p.aborted {
		p.aborted = true
		p.errorf(p.posOf(n), "aliases expand the file by more than %d YAML nodes; stopping", maxAliasNodes)
	}
	return false
}

// posOf returns the position of the value of a node.
func (p *parser) posOf(n *yaml.Node) Pos {
	line, col := n.Line-p.prelude, n.Column
	if n.Anchor != "" || n.Style&yaml.TaggedStyle != 0 {
		return p.valueStart(n, line)
	}
	return p.pos(line, col)
}

// valueStart returns where the value of n starts. yaml.v3 places a node
// at its anchor or tag: a value on the same line starts after them, a
// block mapping on the next lines at its first key.
func (p *parser) valueStart(n *yaml.Node, line int) Pos {
	rest := skipRunes(p.lineText(line), n.Column-1)
	skipped := 0
	for rest != "" && (rest[0] == '&' || rest[0] == '!') {
		end := strings.IndexAny(rest, " \t")
		if end < 0 {
			end = len(rest)
		}
		next := strings.TrimLeft(rest[end:], " \t")
		skipped += utf8.RuneCountInString(rest[:len(rest)-len(next)])
		rest = next
	}
	switch {
	case rest != "" && rest[0] != '#':
		return p.pos(line, n.Column+skipped)
	case n.Kind == yaml.MappingNode && len(n.Content) > 0:
		return p.posOf(n.Content[0])
	}
	return p.pos(line, n.Column)
}

func skipRunes(s string, n int) string {
	for ; n > 0 && s != ""; n-- {
		_, size := utf8.DecodeRuneInString(s)
		s = s[size:]
	}
	return s
}

// lineText returns line l of the file, without its line break.
func (p *parser) lineText(l int) string {
	if l < 1 || l > p.lineCount() {
		return ""
	}
	text := string(p.src[p.lines[l-1]:p.lines[l]])
	return strings.TrimRight(text, "\r\n\u0085\u2028\u2029")
}

// lineCount returns the number of lines of the file, not counting an
// empty one after a final line break.
func (p *parser) lineCount() int {
	if p.lines == nil {
		p.lines = lineStarts(p.src)
	}
	n := len(p.lines) - 1
	if n > 1 && p.lines[n-1] == len(p.src) {
		n--
	}
	return n
}

// lineStarts returns where each line of data starts, and len(data).
func lineStarts(data []byte) []int {
	starts := []int{0}
	for i := 0; i < len(data); i++ {
		if c := data[i]; c != '\n' && c != '\r' && c != 0xc2 && c != 0xe2 {
			continue // cannot start a line break
		}
		if b := lineBreak(data, i); b > 0 {
			i += b - 1
			starts = append(starts, i+1)
		}
	}
	return append(starts, len(data))
}

func (p *parser) pos(line, col int) Pos { return Pos{File: p.file, Line: line, Col: col} }
