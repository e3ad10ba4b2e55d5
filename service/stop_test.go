package service

import (
	"testing"
	"time"
)

// TestStopBound: stopping waits for each wave of after: in turn (its
// longest grace and the wait after SIGKILL), waves at once.
func TestStopBound(t *testing.T) {
	s := time.Second
	for _, c := range []struct {
		name string
		ts   []target
		want time.Duration
	}{
		{"none", nil, 0},
		{"two apart", []target{{ref: "a/x", grace: s}, {ref: "b/y", grace: 3 * s}}, 3*s + killWait},
		{"a chain", []target{{ref: "a/x", grace: s}, {ref: "b/y", grace: 3 * s, after: []string{"a/x"}}}, 4*s + 2*killWait},
		{"default grace", []target{{ref: "a/x"}}, DefaultStopGrace + killWait},
		{"a cycle", []target{{ref: "a/x", grace: s, after: []string{"b/y"}}, {ref: "b/y", grace: 2 * s, after: []string{"a/x"}}}, 2*s + killWait},
	} {
		if got := stopBound(c.ts); got != c.want {
			t.Errorf("%s: stopBound = %v, want %v", c.name, got, c.want)
		}
	}
}

func TestNotReadyErrorSaysTheLog(t *testing.T) {
	e := &NotReadyError{Service: "a/web", Reason: "not ready after 1s", LogTail: []string{"one", "two"}}
	if got, want := e.Error(), "service a/web: not ready after 1s; the last lines of its log:\n  one\n  two"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	e.LogTail = nil
	if got, want := e.Error(), "service a/web: not ready after 1s (its log is empty)"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}
