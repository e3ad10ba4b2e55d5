package main

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/nslab/nslab/nslabtest"
	"github.com/nslab/nslab/plan"
	"github.com/nslab/nslab/topology"
)

// TestLabAcrossHostsReconcile: up again of a changed file changes each
// host's share only where it changed: a node added on h1, a cable moved
// from h1 -- h2 to h1 -- h3, a node moved from h2 to h3 by host:, while
// the nodes not named (some placed automatically) keep their host and
// namespace. Drift made by hand on h3 (its tunnel of the bridge deleted)
// shows in status under h3 and up --repair puts it back. A host dropped
// from hosts: loses its share.
func TestLabAcrossHostsReconcile(t *testing.T) {
	c := startHosts(t, "h1", "h2", "h3")
	name := nslabtest.Name("mr")
	dir := t.TempDir()
	file := filepath.Join(dir, name+".yaml")
	head := fmt.Sprintf("name: %s\nhosts:\n  h1: {ssh: h1, address: %s}\n  h2: {ssh: h2, address: %s}\n  h3: {ssh: h3, address: %s}\n"+
		"routing: auto\naddressing: {pool: [10.80.0.0/16]}\nbridges:\n  lan: {}\nnodes:\n",
		name, c.Host("h1").Addr, c.Host("h2").Addr, c.Host("h3").Addr)
	auto := "  p1: {interfaces: {eth0: {link: lan}}}\n  p2: {interfaces: {eth0: {link: lan}}}\n  p3: {interfaces: {eth0: {link: lan}}}\n"
	v1 := head + auto + `  a: {host: h1, router: true, interfaces: {eth0: {link: lan}, eth1: {link: b:eth0}}}
  b: {host: h2, interfaces: {eth0: {}}}
  c: {host: h3}
  x: {host: h2, interfaces: {eth0: {link: lan}}}
  y: {host: h3, interfaces: {eth0: {link: lan}}}
`
	v2 := head + auto + `  a: {host: h1, router: true, interfaces: {eth0: {link: lan}, eth1: {link: c:eth0}}}
  b: {host: h2}
  c: {host: h3, interfaces: {eth0: {}}}
  d: {host: h1, interfaces: {eth0: {link: lan}}}
  x: {host: h3, interfaces: {eth0: {link: lan}}}
  y: {host: h3, interfaces: {eth0: {link: lan}}}
`
	write := func(src string) {
		t.Helper()
		if err := os.WriteFile(file, []byte(src), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		if r := fleetRun(t, c, "down", "-q", name); r.code != 0 {
			os.Remove(filepath.Join("/run/nslab/.fleet", name+".json"))
		}
	})
	// nsOf maps each node's namespace on each host to its inode.
	nsOf := func() map[string]string {
		t.Helper()
		out := map[string]string{}
		for _, h := range c.Hosts {
			o, err := inHost(h, "cd /run/netns 2>/dev/null && for n in "+name+".*; do [ -e \"$n\" ] && echo \"$n $(stat -L -c %i $n)\"; done; true")
			if err != nil {
				t.Fatalf("%s: %v\n%s", h.Name, err, o)
			}
			for _, l := range strings.Split(strings.TrimSpace(o), "\n") {
				if n, ino, ok := strings.Cut(l, " "); ok {
					out[strings.TrimPrefix(n, name+".")+"@"+h.Name] = ino
				}
			}
		}
		return out
	}
	ping := func(host, from, to string, l *topology.Lab) {
		t.Helper()
		addr := l.Node(to).Interfaces[0].Addresses[0].Addr()
		var out string
		var err error
		for try := 0; try < 3; try++ {
			if out, err = onHost(t, c, host, fmt.Sprintf("%s exec %s.%s -- ping -c 1 -W 3 %s", bin, name, from, addr)); err == nil {
				return
			}
		}
		t.Errorf("%s (on %s) -> %s (%s): %v\n%s", from, host, to, addr, err, out)
	}

	write(v1)
	if r := fleetRun(t, c, "up", "-q", file); r.code != 0 {
		t.Fatalf("up: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	before := nsOf()
	write(v2)
	if r := fleetRun(t, c, "up", file); r.code != 0 {
		t.Fatalf("up of the changed file: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	after := nsOf()
	for _, n := range []string{"a@h1", "b@h2", "c@h3", "y@h3", "x@h3", "d@h1"} {
		if after[n] == "" {
			t.Errorf("after the change, no namespace %s (namespaces: %v)", n, slices.Sorted(maps.Keys(after)))
		}
	}
	if after["x@h2"] != "" {
		t.Errorf("x, moved to h3 by host:, is still on h2")
	}
	for n, ino := range before {
		if strings.HasPrefix(n, "x@") {
			continue
		}
		if after[n] != ino {
			t.Errorf("namespace of %s was made anew or moved by a change that does not name it (inode %s, now %q)", n, ino, after[n])
		}
	}
	// The addresses of a running lab are kept (the record's).
	l2 := withRecord(t, name, file, v2)
	ping("h1", "a", "c", l2) // the cable a -- c, now between h1 and h3
	ping("h3", "x", "d", l2) // x moved to h3 reaches d added on h1, over lan

	// Drift on h3: the tunnel of lan removed by hand.
	tunnel := func() string {
		o, _ := inHost(c.Host("h3"), "ip -o link show type vxlan | grep -o '"+plan.TunnelAltName(name, "lan")+"' || true")
		return strings.TrimSpace(o)
	}
	if tunnel() == "" {
		t.Fatalf("no tunnel of lan on h3")
	}
	if o, err := inHost(c.Host("h3"), "ip link del \"$(ip -o link show type vxlan | grep '"+plan.TunnelAltName(name, "lan")+"' | cut -d: -f2 | cut -d@ -f1 | tr -d ' ')\""); err != nil {
		t.Fatalf("deleting lan's tunnel on h3: %v\n%s", err, o)
	}
	r := fleetRun(t, c, "status", name)
	h3part := r.stdout[strings.Index(r.stdout, "host h3 "):]
	if r.code != 0 || !strings.Contains(h3part, "drift") || strings.Contains(r.stdout[:strings.Index(r.stdout, "host h3 ")], "drift") {
		t.Errorf("status with lan's tunnel deleted on h3: exit %d, want drift under h3 alone\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := fleetRun(t, c, "up", "-q", "--repair", file); r.code != 0 {
		t.Fatalf("up --repair: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if tunnel() == "" {
		t.Errorf("up --repair did not put lan's tunnel back on h3")
	}
	if r := fleetRun(t, c, "status", name); r.code != 0 || strings.Contains(r.stdout, "drift") {
		t.Errorf("status after up --repair: exit %d, want no drift\n%s%s", r.code, r.stdout, r.stderr)
	}
	ping("h3", "y", "d", l2)

	// h3 dropped from hosts: its nodes go to the others, and nothing of
	// the lab stays on it.
	v3 := strings.Replace(strings.ReplaceAll(v2, "host: h3", "host: h2"), fmt.Sprintf("  h3: {ssh: h3, address: %s}\n", c.Host("h3").Addr), "", 1)
	write(v3)
	if r := fleetRun(t, c, "up", "-q", file); r.code != 0 {
		t.Fatalf("up without h3: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if left := leftOn(c.Host("h3")); left != "" {
		t.Errorf("h3, dropped from hosts:, still holds\n%s", left)
	}
	if hs := recordHosts(t, name); !slices.Equal(hs, []string{"h1", "h2"}) {
		t.Errorf("the record holds hosts %v, want [h1 h2]", hs)
	}
	ping("h2", "x", "d", withRecord(t, name, file, v3))
	if r := fleetRun(t, c, "down", name); r.code != 0 {
		t.Fatalf("down: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	for _, h := range c.Hosts {
		if left := leftOn(h); left != "" {
			t.Errorf("%s after down: left\n%s", h.Name, left)
		}
	}
}

// withRecord parses src with the addresses of the running lab's record.
func withRecord(t *testing.T, name, file, src string) *topology.Lab {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("/run/nslab/.fleet", name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	var rec struct{ Assigned topology.Assignments }
	if err := json.Unmarshal(data, &rec); err != nil {
		t.Fatal(err)
	}
	l, err := topology.ParseWith(file, []byte(src), rec.Assigned)
	if err != nil {
		t.Fatal(err)
	}
	return l
}
