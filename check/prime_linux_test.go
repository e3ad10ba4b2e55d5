package check

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nslab/nslab/kernel"
)

// TestRunPrimed: a check in waves writes its neighbours before probing,
// and tells the bridge where the nodes it probes are, so neither a
// solicitation nor a request is flooded through the bridge: a bystander on the
// same bridge (in the kernel, not in the model) receives nothing from a
// primed check of three nodes, where the same check in one wave (the
// kernel resolving) floods it with ARP requests and neighbour
// solicitations. Everything passes both ways, and the primed check
// leaves none of its entries behind, and a node's own static entry as it
// was. The bystander's capture holds all that the kernel had queued for
// it when a check ends (see capture), and tells the kernel's own
// duplicate address detection solicitations from a check's; a failure
// shows the check's steps and what the bystander and the bridge's host
// side received, in time order.
func TestRunPrimed(t *testing.T) {
	needRoot(t)
	needNeighbours(t, 64)
	l := newTestLab("prime")
	l.bridge("br0")
	nodes := []string{"a", "b", "c"}
	ns := map[string]string{}
	sw := newNetns(t, "sw")
	ip(t, "-n", sw, "link", "add", "br0", "type", "bridge")
	addAddrs(t, sw, "br0")
	for i, n := range append(nodes, "x") {
		a4, a6 := fmt.Sprintf("10.73.0.%d/24", 10+i), fmt.Sprintf("fd73::%x/64", 10+i)
		if n != "x" {
			l.port(n+":eth0", "br0", a4, a6)
		}
		ns[n] = newNetns(t, n)
		veth(t, sw, "p"+n, ns[n], "eth0", nil, []string{a4, a6})
		ip(t, "-n", sw, "link", "set", "p"+n, "master", "br0")
	}
	waitUp(t, sw, "br0")
	nsPath := func(node string) string { return kernel.NetnsPath(ns[node]) }
	run := func(lim *neighLimits) (*Report, []frame, string) {
		t.Helper()
		var tl timeline
		tentative := tentativeLinkLocal(t, ns)
		dropped := backlogDrops()
		nonce := rand.Uint64()
		bystander := sniff(t, kernel.NetnsPath(ns["x"]), "eth0", nonce)
		// The bridge passes up what it floods: what it forwarded.
		host := sniff(t, kernel.NetnsPath(sw), "br0", nonce)
		tl.start()
		r, err := Run(context.Background(), l.lab, nsPath, Options{Timeout: time.Second, limits: lim, trace: tl.step})
		if err != nil {
			t.Fatalf("Run() error: %v", err)
		}
		if r.Failed != 0 || r.Passed != len(Expect(l.lab)) {
			t.Errorf("Run() in %d waves: passed %d, failed %d, want all %d", r.Waves, r.Passed, r.Failed, len(Expect(l.lab)))
		}
		marks := markEnd(t, kernel.NetnsPath(ns["a"]), "eth0", nonce)
		seen, bridge := bystander.stop(t, marks), host.stop(t, marks)
		drops := fmt.Sprintf("\t%d probes retried; the kernel's input backlogs (all namespaces') dropped %d packets during the check\n", r.Retried, backlogDrops()-dropped)
		return r, seen, tentative + tl.String(seen, bridge) + drops
	}

	one, flooded, unprimed := run(&neighLimits{thresh3: [2]int{1024, 1024}, hold: time.Second})
	for _, n := range nodes {
		ip(t, "-n", ns[n], "neigh", "flush", "all")
	}
	// A's own static entry for b, which the check must leave as it is
	// (a check replaced it with a reachable one, then deleted it).
	bMAC := strings.Fields(ipOut(t, "-n", ns["b"], "-o", "link", "show", "eth0"))
	mac := bMAC[slices.Index(bMAC, "link/ether")+1]
	ip(t, "-n", ns["a"], "neigh", "add", "10.73.0.11", "lladdr", mac, "dev", "eth0", "nud", "permanent")
	// The bridge forgets where the nodes are (as after ageing_time): the
	// primed check's learning frames tell it again, so that it does not
	// flood the echo requests to every port either.
	ip(t, "-n", sw, "link", "set", "br0", "type", "bridge", "fdb_flush")
	many, seen, story := run(&neighLimits{thresh3: [2]int{8, 8}, hold: 100 * time.Millisecond})
	// A node whose link came up less than about two seconds ago may
	// still be checking that its link-local address is unique: its
	// duplicate address detection solicitation (source ::) is the
	// kernel's own and is flooded too, but no check ever sends one.
	quiet := slices.DeleteFunc(slices.Clone(seen), func(f frame) bool { return f.dad })
	t.Logf("bystander received %d ARP requests, solicitations and echo requests during a check in %d wave, %d during one in %d waves, primed (%d probes retried; and %d duplicate address detection solicitations, the kernel's)", countCheck(flooded), one.Waves, len(quiet), many.Waves, many.Retried, len(seen)-len(quiet))
	if one.Waves != 1 || many.Waves < 2 {
		t.Fatalf("waves: %d and %d, want 1 and several", one.Waves, many.Waves)
	}
	if countCheck(flooded) < 4 {
		t.Errorf("bystander received %d ARP requests, solicitations and echo requests during a check in one wave: want at least 4; the check, with what the bystander received:\n%s", countCheck(flooded), unprimed)
	}
	if len(quiet) > 0 {
		t.Errorf("bystander received %d ARP requests, solicitations and echo requests during a primed check: want none; the check, with what the bystander received:\n%s", len(quiet), story)
	} else if len(seen) > 0 {
		t.Logf("the primed check, with what the bystander received:\n%s", story)
	}
	for _, n := range nodes {
		out, _ := exec.Command("ip", "-n", ns[n], "neigh", "show").CombinedOutput()
		for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			line = strings.TrimSpace(line) // ip ends each line with a space
			if n == "a" && strings.HasPrefix(line, "10.73.0.11 ") {
				if line != "10.73.0.11 dev eth0 lladdr "+mac+" PERMANENT" {
					t.Errorf("a: its own entry for b changed by the check: %s", line)
				}
				continue
			}
			if strings.HasPrefix(line, "10.73.") || strings.HasPrefix(line, "fd73:") {
				t.Errorf("%s: primed entry left after the check: %s", n, line)
			}
		}
	}
	if out := ipOut(t, "-n", ns["a"], "neigh", "show", "10.73.0.11"); !strings.Contains(out, "PERMANENT") {
		t.Errorf("a: its own entry for b is gone after the check: %q", out)
	}
}
