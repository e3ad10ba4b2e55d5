package topology

import (
	"bytes"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// yamlError splits an error of yaml.v3, such as "yaml: line 3: mapping
// values are not allowed in this context". yaml.v3 gives no column, and
// no line for errors on the first line.
var yamlError = regexp.MustCompile(`(?s)^yaml: (?:line (\d+): )?(.*)$`)

// parserProblems are the problems that libyaml's parser, rather than its
// scanner, finds: yaml.v3 counts their lines from 0.
var parserProblems = map[string]bool{
	"did not find expected <stream-start>":   true,
	"did not find expected <document start>": true,
	"did not find expected node content":     true,
	"did not find expected key":              true,
	"did not find expected '-' indicator":    true,
	"did not find expected ',' or ']'":       true,
	"did not find expected ',' or '}'":       true,
	"found duplicate %YAML directive":        true,
	"found duplicate %TAG directive":         true,
	"found incompatible YAML document":       true,
	"found undefined tag handle":             true,
}

// blockProblems are the parser's problems in a block collection: yaml.v3
// reports them at the line where the collection starts. (It reports
// maxDepthError at the line of the last key before the problem.)
var blockProblems = map[string]bool{
	"did not find expected key":           true,
	"did not find expected '-' indicator": true,
}

var maxDepthError = regexp.MustCompile(`^exceeded max depth of (\d+)$`)

// syntaxError reports an error of the YAML parser at its line, column 1.
func (p *parser) syntaxError(err error) {
	m := yamlError.FindStringSubmatch(err.Error())
	if m == nil {
		p.errorf(p.pos(1, 1), "%v", err)
		return
	}
	line, msg := 0, m[2]
	if m[1] != "" {
		line, _ = strconv.Atoi(m[1])
	}
	if parserProblems[msg] {
		line++
	}
	switch {
	case blockProblems[msg] || maxDepthError.MatchString(msg):
		line = p.problemLine(msg, max(line, 1))
	case msg == "found unexpected end of stream":
		line = p.quoteStart(msg, line)
	}
	// At the end of the file, libyaml counts one line more.
	line = max(min(line-p.prelude, p.lineCount()), 1)
	col, msg := p.explain(line, msg)
	p.errorf(p.pos(line, col), "%s", msg)
}

// quoteStart returns the line where a quoted string that is not closed
// starts. yaml.v3 reports that line, except for a string that starts on
// line 1: then the end of the input. Two parses tell the two apart, where
// a search would parse a large file many times.
func (p *parser) quoteStart(msg string, line int) int {
	last := p.lineCount()
	if p.prelude > 0 || line < last {
		return line
	}
	starts := lineStarts(p.input)
	if !p.failsAt(starts, 1, msg) || last > 1 && !p.failsAt(starts, last-1, msg) {
		return line // it starts on the last line
	}
	return 1
}

// explain rewords the parser's messages that need it, and finds the
// column where it can.
func (p *parser) explain(line int, msg string) (int, string) {
	if m := unknownAnchorError.FindStringSubmatch(msg); m != nil {
		return 1, "alias *" + m[1] + ": no anchor &" + m[1] + " is defined before it"
	}
	if m := maxDepthError.FindStringSubmatch(msg); m != nil {
		return 1, "lists and mappings nest deeper than " + m[1] + " levels"
	}
	switch msg {
	case "found character that cannot start any token":
		text := p.lineText(line)
		if i := strings.IndexFunc(text, func(r rune) bool { return r != ' ' }); i >= 0 && text[i] == '\t' {
			return i + 1, "YAML syntax: found a tab character where a token should start; indent with spaces"
		}
	case "mapping values are not allowed in this context", "could not find expected ':'":
		if col, n := longKey(p.lineText(line)); n > 0 {
			return col, fmt.Sprintf("YAML syntax: a key of %d characters; YAML reads keys of at most 1024 characters, and names in a topology file are much shorter", n)
		}
	case "did not find expected node content":
		if m := bareIPv6.FindStringSubmatchIndex(p.lineText(line)); m != nil {
			text := p.lineText(line)
			addr := text[m[2]:m[3]]
			return utf8.RuneCountInString(text[:m[2]]) + 1, fmt.Sprintf("YAML syntax: %s: an IPv6 address that starts with ':' cannot be written bare inside [ ] or { }: quote it (\"%s\")", addr, addr)
		}
	case "found unexpected end of stream":
		msg += ": a quoted string is not closed"
	case "found incompatible YAML document":
		msg += " (only %YAML 1.1 is understood; remove the %YAML line)"
	}
	return 1, "YAML syntax: " + msg
}

// bareIPv6 finds an unquoted IPv6 address or prefix that starts with
// "::" in a flow list or mapping ([::1/64], {to: ::/0}), which YAML
// cannot read there.
var bareIPv6 = regexp.MustCompile(`(?:[\[{,]|:[ \t])[ \t]*(::[0-9A-Fa-f:.]*(?:/[0-9]+)?)`)

// longKey finds a block mapping key longer than the 1024 characters that
// YAML allows on a line, and returns its column and length.
func longKey(text string) (col, n int) {
	rest := strings.TrimLeft(text, " ")
	for strings.HasPrefix(rest, "- ") || strings.HasPrefix(rest, "? ") {
		rest = strings.TrimLeft(rest[2:], " ")
	}
	key, _, found := strings.Cut(rest, ": ")
	if !found {
		key = strings.TrimSuffix(rest, ":")
	}
	if n = utf8.RuneCountInString(key); n <= 1024 {
		return 0, 0
	}
	return utf8.RuneCountInString(text[:len(text)-len(rest)]) + 1, n
}

// problemLine returns the line of the input where the parser found msg,
// at or after line from, searching down from the last line it read. The
// input up to that line fails as the whole input did, since the parser
// stopped there: it was fed a line at a time.
func (p *parser) problemLine(msg string, from int) int {
	starts := lineStarts(p.input)
	bad := sort.SearchInts(starts, p.readTo)
	if bad <= from {
		return from
	}
	return p.firstFailing(starts, msg, from-1, bad)
}

// firstFailing returns the first line after good whose prefix of the
// input fails with msg, given that the prefix up to line bad does. It
// searches down from bad, with steps that double, then by halves.
func (p *parser) firstFailing(starts []int, msg string, good, bad int) int {
	for step := 1; bad-step > good; step *= 2 {
		if !p.failsAt(starts, bad-step, msg) {
			good = bad - step
			break
		}
		bad -= step
	}
	for bad-good > 1 {
		if mid := (good + bad) / 2; p.failsAt(starts, mid, msg) {
			bad = mid
		} else {
			good = mid
		}
	}
	return bad
}

// failsAt reports whether the input up to line fails with msg.
func (p *parser) failsAt(starts []int, line int, msg string) bool {
	_, err := decodeDocs(bytes.NewReader(p.input[:starts[min(line, len(starts)-1)]]))
	m := yamlError.FindStringSubmatch(fmt.Sprint(err))
	return m != nil && m[2] == msg
}

// lineReader reads at most a line at a time, and counts what it read.
type lineReader struct {
	data []byte
	off  int
}

func (r *lineReader) Read(b []byte) (int, error) {
	if r.off == len(r.data) {
		return 0, io.EOF
	}
	rest := r.data[r.off:]
	if len(rest) > len(b) {
		rest = rest[:len(b)] // a long line takes several reads
	}
	if i := bytes.IndexByte(rest, '\n'); i >= 0 {
		rest = rest[:i+1]
	}
	n := copy(b, rest)
	r.off += n
	return n, nil
}
