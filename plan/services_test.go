package plan

import (
	"strings"
	"testing"
)

// TestReconcileServicesAlone: services are not kernel objects; a change
// of a node's services alone plans nothing (the supervisor starts,
// restarts and stops them), so the node keeps its namespace.
func TestReconcileServicesAlone(t *testing.T) {
	withServices := func(svcs string) string {
		return strings.Replace(seed, "  ns2:\n", "  ns2:\n    services:\n"+svcs, 1)
	}
	a := withServices("      web: python3 -m http.server 8080\n      db: {command: [sleep, infinity], restart: always}\n")
	b := withServices("      web: {command: python3 -m http.server 9090, ready: {tcp: 9090}, after: [db]}\n" +
		"      db: {command: [sleep, infinity], restart: on-failure, stop: SIGINT}\n      new: sleep 1\n")
	for _, tc := range []struct{ name, from, to string }{
		{"services added", seed, a},
		{"services changed", a, b},
		{"services removed", b, seed},
		{"services of a node named elsewhere", a, strings.Replace(b, "after: [db]", "after: [db, ns2/new]", 1)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			from, to := parse(t, tc.from), parse(t, tc.to)
			p, err := Reconcile(from, to, running(t, from))
			if err != nil {
				t.Fatal(err)
			}
			if !p.Empty() {
				t.Errorf("a change of services alone plans:\n%s", script(t, p))
			}
		})
	}
}
