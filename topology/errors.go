package topology

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// maxErrors is how many errors Parse reports before it gives up.
const maxErrors = 50

// Error is one problem in a topology file, at the position it refers to.
type Error struct {
	Pos Pos
	Msg string
}

// Error returns "file:line:col: msg".
func (e *Error) Error() string {
	if p := e.Pos.String(); p != "" {
		return p + ": " + e.Msg
	}
	return e.Msg
}

// ErrorList is every problem found in a topology file. Parse returns it
// sorted by position.
type ErrorList []*Error

// Error returns the errors sorted by position, one per line.
func (l ErrorList) Error() string {
	s := slices.Clone(l)
	sortErrors(s)
	var b strings.Builder
	for i, e := range s {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(e.Error())
	}
	return b.String()
}

// Unwrap lets errors.As find the single errors.
func (l ErrorList) Unwrap() []error {
	out := make([]error, len(l))
	for i, e := range l {
		out[i] = e
	}
	return out
}

func sortErrors(l ErrorList) {
	slices.SortStableFunc(l, func(a, b *Error) int { return comparePos(a.Pos, b.Pos) })
}

func comparePos(a, b Pos) int {
	return cmp.Or(strings.Compare(a.File, b.File), cmp.Compare(a.Line, b.Line), cmp.Compare(a.Col, b.Col))
}

// errorSink collects errors up to maxErrors.
type errorSink struct {
	errs     ErrorList
	overflow bool
}

func (s *errorSink) add(pos Pos, format string, args ...any) {
	if len(s.errs) >= maxErrors {
		s.overflow = true
		return
	}
	s.errs = append(s.errs, &Error{Pos: pos, Msg: printable(fmt.Sprintf(format, args...))})
}

// printable escapes what a terminal would not show as text: control
// characters (a newline would fake a message line, an escape sequence
// would recolour the terminal), invisible format characters such as
// U+202E, and bytes that are not UTF-8. Most messages quote what the file
// says, but some repeat a value as written.
func printable(msg string) string {
	if utf8.ValidString(msg) && !strings.ContainsFunc(msg, func(r rune) bool { return !unicode.IsPrint(r) }) {
		return msg
	}
	var b strings.Builder
	for i := 0; i < len(msg); {
		r, n := utf8.DecodeRuneInString(msg[i:])
		switch {
		case r == utf8.RuneError && n == 1:
			fmt.Fprintf(&b, `\x%02x`, msg[i])
		case unicode.IsPrint(r):
			b.WriteString(msg[i : i+n])
		default:
			q := strconv.QuoteRune(r)
			b.WriteString(q[1 : len(q)-1])
		}
		i += n
	}
	return b.String()
}

// result returns the sorted errors, or nil when there are none.
func (s *errorSink) result() error {
	if len(s.errs) == 0 {
		return nil
	}
	l := slices.Clone(s.errs)
	sortErrors(l)
	if s.overflow {
		// At the last position, so that it stays last when sorted again.
		last := l[len(l)-1].Pos
		l = append(l, &Error{Pos: last, Msg: fmt.Sprintf("too many errors: stopped after %d", maxErrors)})
	}
	return l
}
