// Package natsort orders names as people read them: the runs of digits in
// a name compare as numbers, so h2 comes before h10.
package natsort

import "strings"

// Compare compares a and b with runs of decimal digits taken as numbers:
// -1 if a comes first, 1 if b does, 0 if they are equal. Numbers equal in
// value but not in text (h01, h1) fall back to the text.
func Compare(a, b string) int {
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		if isDigit(a[i]) && isDigit(b[j]) {
			ei, ej := digits(a, i), digits(b, j)
			x, y := strings.TrimLeft(a[i:ei], "0"), strings.TrimLeft(b[j:ej], "0")
			if len(x) != len(y) {
				return cmp(len(x), len(y))
			}
			if c := strings.Compare(x, y); c != 0 {
				return c
			}
			i, j = ei, ej
			continue
		}
		if a[i] != b[j] {
			return cmp(int(a[i]), int(b[j]))
		}
		i++
		j++
	}
	if c := cmp(len(a)-i, len(b)-j); c != 0 {
		return c
	}
	return strings.Compare(a, b)
}

// Less reports whether a comes before b.
func Less(a, b string) bool { return Compare(a, b) < 0 }

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// digits returns the end of the run of digits that starts at i.
func digits(s string, i int) int {
	for i < len(s) && isDigit(s[i]) {
		i++
	}
	return i
}

func cmp(x, y int) int {
	switch {
	case x < y:
		return -1
	case x > y:
		return 1
	}
	return 0
}
