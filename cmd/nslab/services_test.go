package main

import (
	"strings"
	"testing"
)

// TestValidateServices: validate counts a lab's services, and reports a
// bad one at its line, as a new user sees it.
func TestValidateServices(t *testing.T) {
	r := nslab(t, "name: svcs\nnodes:\n  a:\n    services:\n      web: python3 -m http.server\n      db: {command: [sleep, infinity], ready: {tcp: 5432}}\n", "validate", "-")
	if r.code != 0 || r.stdout != "-: valid: lab svcs, 1 node, 0 bridges, 0 links, 2 services\n" {
		t.Errorf("validate -: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = nslab(t, "name: svcs\nnodes:\n  a:\n    services:\n      web: {command: x, after: [db]}\n      db: {command: y, after: [web]}\n", "validate", "-")
	want := "<stdin>:5:33: nodes.a.services.web.after: services wait for each other in a cycle of 2: a/web -> a/db -> a/web (the other after: entries: a/db at 6:32)"
	if r.code != 1 || !strings.Contains(r.stderr, want) {
		t.Errorf("validate - of a cycle: exit %d, want 1 and %q\n%s%s", r.code, want, r.stdout, r.stderr)
	}
}
