package topology

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// maxAliasNodes bounds how many YAML nodes aliases may add to a file, so
// that nested aliases ("billion laughs") cannot blow a file up. yaml.v3
// limits aliases only when it decodes into Go values, not into yaml.Node.
const maxAliasNodes = 1_000_000

// MaxValue is the longest scalar, key or anchor name a topology file may
// hold, in bytes: far above any name, address or sysctl value, and the
// longest plain key YAML reads. It keeps a hostile value out of messages.
const MaxValue = 1024

// readYAML parses data into the root node of its single document, or
// reports why it cannot and returns nil.
func (p *parser) readYAML(data []byte) *yaml.Node {
	if !p.checkChars(data) {
		return nil
	}
	p.src = bytes.TrimPrefix(data, []byte("\uFEFF"))
	p.input = p.src
	docs, err := p.decodeInput()
	if isUnknownAnchor(err) {
		docs, err = p.decodeWithPrelude()
	}
	if err != nil {
		p.syntaxError(err)
		return nil
	}
	return p.document(docs)
}

// decodeInput parses p.input a line at a time, and notes in p.readTo how
// much of it the parser had read when it stopped: on an error, the line
// where the parser found the problem is at most that far.
func (p *parser) decodeInput() ([]*yaml.Node, error) {
	r := &lineReader{data: p.input}
	docs, err := decodeDocs(r)
	p.readTo = r.off
	return docs, err
}

// decodeDocs parses every document of the input, and turns a panic of
// the parser into an error.
func decodeDocs(r io.Reader) (docs []*yaml.Node, err error) {
	defer func() {
		if v := recover(); v != nil {
			docs, err = nil, fmt.Errorf("the YAML parser failed on this file (%v); please report it", v)
		}
	}()
	d := yaml.NewDecoder(r)
	for {
		var doc yaml.Node
		switch err := d.Decode(&doc); {
		case errors.Is(err, io.EOF):
			return docs, nil
		case err != nil:
			return nil, err
		}
		docs = append(docs, &doc)
	}
}

// document returns the root of the only document that is not empty.
func (p *parser) document(docs []*yaml.Node) *yaml.Node {
	var body *yaml.Node
	for _, d := range docs {
		if len(d.Content) == 0 || isEmptyDoc(d.Content[0]) {
			continue
		}
		if body != nil {
			p.errorf(p.posOf(d.Content[0]), "a topology file holds one YAML document; remove this one or its --- line")
			return nil
		}
		body = d.Content[0]
	}
	if body == nil {
		p.errorf(p.pos(1, 1), "the file is empty: a lab needs at least nodes: or bridges:")
		return nil
	}
	if !p.topologyShaped(body) {
		return nil
	}
	if p.scan(body, map[*yaml.Node]bool{}); p.overlong {
		return nil
	}
	return body
}

// topologyShaped reports whether body could be a topology: a mapping
// with at least one key of the top level (or one near it, a typo). Any
// other file, such as /etc/shadow given by mistake or through a symlink,
// gets one message that quotes no more than the start of the file, never
// its lines one by one.
func (p *parser) topologyShaped(body *yaml.Node) bool {
	if body.Kind == yaml.AliasNode || body.Kind == yaml.MappingNode && len(body.Content) == 0 {
		return true // told apart later
	}
	if body.Kind != yaml.MappingNode {
		p.typeError(body, "", "a mapping")
		return false
	}
	allowed := slices.Sorted(maps.Keys(labFields))
	for i := 0; i+1 < len(body.Content); i += 2 {
		k := body.Content[i]
		if k.Kind != yaml.ScalarNode || k.Tag == tagMerge || labFields[k.Value] != nil || closest(k.Value, allowed) != "" {
			return true
		}
	}
	p.errorf(p.posOf(body.Content[0]), "this is not an nslab topology: none of its top-level keys is one of %s; the file begins %s",
		quoteList(allowed), shortQuote(firstLine(p.src)))
	return false
}

// firstLine returns the first line of data that is not blank.
func firstLine(data []byte) string {
	for line := range strings.Lines(string(data)) {
		if line = strings.TrimSpace(line); line != "" {
			return line
		}
	}
	return ""
}

// isEmptyDoc reports whether n is the body of a document with no content,
// as after a --- at the end of a file.
func isEmptyDoc(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.Tag == tagNull && n.Value == "" && n.Style == 0 && n.Anchor == ""
}

// scan counts the nodes of the tree of n, marks the aliases inside the
// value of their own anchor (following them would never end), and reports
// values longer than MaxValue.
func (p *parser) scan(n *yaml.Node, open map[*yaml.Node]bool) {
	p.nodes++
	switch {
	case len(n.Anchor) > MaxValue:
		p.tooLong(n, "anchor name", n.Anchor)
	case (n.Kind == yaml.ScalarNode || n.Kind == yaml.AliasNode) && len(n.Value) > MaxValue:
		p.tooLong(n, map[bool]string{true: "alias name", false: "value"}[n.Kind == yaml.AliasNode], n.Value)
	}
	if n.Kind == yaml.AliasNode {
		if open[n.Alias] {
			p.cyclic[n] = true
		}
		return
	}
	if n.Anchor != "" {
		open[n] = true
		defer delete(open, n)
	}
	for _, c := range n.Content {
		p.scan(c, open)
	}
}

func (p *parser) tooLong(n *yaml.Node, what, s string) {
	p.overlong = true
	p.errorf(p.posOf(n), "%s %s is %d bytes long; a value in a topology file is at most %d bytes",
		what, shortQuote(s), len(s), MaxValue)
}

// checkChars reports the first byte that is not UTF-8 or character that
// YAML does not allow, such as control characters.
func (p *parser) checkChars(data []byte) bool {
	if bytes.HasPrefix(data, []byte{0xff, 0xfe}) || bytes.HasPrefix(data, []byte{0xfe, 0xff}) {
		p.errorf(p.pos(1, 1), "the file is UTF-16 (it starts with a UTF-16 byte order mark); save it as UTF-8")
		return false
	}
	for i := 0; i < len(data); {
		if c := data[i]; c >= 0x20 && c < 0x7f || c == '\n' {
			i++
			continue
		}
		r, n := utf8.DecodeRune(data[i:])
		switch {
		case r == utf8.RuneError && n <= 1:
			p.errorf(offsetPos(p.file, data, i), "the file is not valid UTF-8")
			return false
		case !yamlChar(r):
			p.errorf(offsetPos(p.file, data, i), "the file contains the character %U, which YAML does not allow; in a double-quoted string write it as an escape", r)
			return false
		}
		i += n
	}
	return true
}

// offsetPos returns the position of data[i] in file.
func offsetPos(file string, data []byte, i int) Pos {
	starts := lineStarts(data[:i])
	line := len(starts) - 1
	return Pos{File: file, Line: line, Col: utf8.RuneCount(data[starts[line-1]:i]) + 1}
}

// yamlChar reports whether YAML allows r in a file.
func yamlChar(r rune) bool {
	switch {
	case r == '\t', r == '\n', r == '\r', r == 0x85:
		return true
	case r >= 0x20 && r <= 0x7e, r >= 0xa0 && r <= 0xd7ff, r >= 0xe000 && r <= 0xfffd:
		return true
	}
	return r >= 0x10000 && r <= utf8.MaxRune
}

// lineBreak returns the length of the line break at data[i:], or 0.
// YAML also breaks lines at a lone CR, NEL, LS and PS.
func lineBreak(data []byte, i int) int {
	switch {
	case bytes.HasPrefix(data[i:], []byte("\r\n")):
		return 2
	case data[i] == '\n' || data[i] == '\r':
		return 1
	case bytes.HasPrefix(data[i:], []byte("\u0085")):
		return 2
	case bytes.HasPrefix(data[i:], []byte("\u2028")), bytes.HasPrefix(data[i:], []byte("\u2029")):
		return 3
	}
	return 0
}

var unknownAnchorError = regexp.MustCompile(`^unknown anchor '(.*)' referenced$`)

func isUnknownAnchor(err error) bool {
	return err != nil && unknownAnchorError.MatchString(strings.TrimPrefix(err.Error(), "yaml: "))
}

// aliasName matches every alias in a file, and other text.
var aliasName = regexp.MustCompile(`\*([0-9A-Za-z_-]+)`)

// decodeWithPrelude parses the file again after a document that anchors
// every name the file could use as an alias. yaml.v3 fails, without a
// position, at an alias that no anchor before it defines; now the alias
// refers to the prelude, and deref reports it where it is. The file's own
// anchors define the names again for the aliases after them.
func (p *parser) decodeWithPrelude() ([]*yaml.Node, error) {
	var b strings.Builder
	var names []string
	for _, m := range aliasName.FindAllSubmatch(p.src, -1) {
		names = append(names, string(m[1]))
	}
	slices.Sort(names)
	names = slices.Compact(names)
	for _, name := range names {
		b.WriteString("- &" + name + " ~\n")
	}
	b.WriteString(p.preludeEnd())
	p.prelude = len(names) + 1
	p.input = append([]byte(b.String()), p.src...)
	docs, err := p.decodeInput()
	if err != nil {
		return nil, err
	}
	return docs[1:], nil
}

// preludeEnd ends the prelude so that the file starts a document as it
// would alone: "..." lets it begin with directives or ---.
func (p *parser) preludeEnd() string {
	for l := range bytes.Lines(p.src) {
		t := bytes.TrimLeft(l, " \t")
		if len(bytes.TrimSpace(t)) == 0 || t[0] == '#' {
			continue
		}
		if l[0] == '%' || isDocStart(l) {
			return "...\n"
		}
		break
	}
	return "---\n"
}

// isDocStart reports whether a line starts with the marker ---.
func isDocStart(l []byte) bool {
	rest, ok := bytes.CutPrefix(l, []byte("---"))
	return ok && (len(rest) == 0 || strings.ContainsRune(" \t\r\n", rune(rest[0])))
}
