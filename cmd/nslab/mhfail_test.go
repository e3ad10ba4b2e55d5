package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nslab/nslab/internal/simhost"
	"github.com/nslab/nslab/nslabtest"
)

// fleetRun runs nslab with the cluster's ssh_config and a short ssh
// timeout.
func fleetRun(t *testing.T, c *simhost.Cluster, args ...string) result {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "NSLAB_SSH_CONFIG="+c.Config, "NSLAB_SSH_TIMEOUT=5")
	return runCmd(t, cmd, "", args)
}

// inHost runs a shell line in a simulated host's namespaces without ssh
// (which a cut cable stops).
func inHost(h *simhost.Host, line string) (string, error) {
	out, err := exec.Command("nsenter", "-t", fmt.Sprint(h.Pid), "-n", "-m", "sh", "-c", line).CombinedOutput()
	return string(out), err
}

// leftOn is what a lab may leave on a simulated host: namespaces, VXLAN
// devices, bridges, state.
func leftOn(h *simhost.Host) string {
	out, err := inHost(h, "ip netns list; ip -o link show type vxlan; ip -o link show type bridge; ls /run/nslab 2>/dev/null | grep -v '^\\.' || true")
	if err != nil {
		return fmt.Sprintf("%v: %s", err, out)
	}
	return strings.TrimSpace(out)
}

// recordHosts are the hosts of a lab's record across machines, nil when
// it has none.
func recordHosts(t *testing.T, name string) []string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("/run/nslab/.fleet", name+".json"))
	if err != nil {
		return nil
	}
	var rec struct{ Hosts []struct{ Name string } }
	if err := json.Unmarshal(data, &rec); err != nil {
		t.Fatal(err)
	}
	var hs []string
	for _, h := range rec.Hosts {
		hs = append(hs, h.Name)
	}
	return hs
}

// cable takes a simulated host's underlay cable down or up.
func cable(t *testing.T, h *simhost.Host, state string) {
	t.Helper()
	if out, err := exec.Command("ip", "link", "set", h.Link, state).CombinedOutput(); err != nil {
		t.Fatalf("ip link set %s %s: %v: %s", h.Link, state, err, out)
	}
}

// TestHostUnreachableDuringUp: the cable of h3 cut while the hosts build
// (after every host passed the preflight): up fails naming h3, nothing is
// left on h1 and h2, and the record keeps h3; down while h3 is cut names
// it with the nodes it keeps and exits 1, keeping the record; once the
// cable is back, down removes the lab from h3. A host gone for good is
// dropped from the record by down --forget, which says what it holds.
func TestHostUnreachableDuringUp(t *testing.T) {
	c := startHosts(t, "h1", "h2", "h3")
	h2, h3 := c.Host("h2"), c.Host("h3")
	name := nslabtest.Name("mu")
	file := filepath.Join(t.TempDir(), name+".yaml")
	var b strings.Builder
	fmt.Fprintf(&b, "name: %s\nhosts:\n", name)
	for _, h := range c.Hosts {
		fmt.Fprintf(&b, "  %s: {ssh: %s, address: %s}\n", h.Name, h.Name, h.Addr)
	}
	b.WriteString("addressing: {pool: [10.79.0.0/16]}\nbridges:\n  lan: {}\nnodes:\n")
	for i := range 45 {
		fmt.Fprintf(&b, "  n%d: {interfaces: {eth0: {link: lan}}}\n", i)
	}
	if err := os.WriteFile(file, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		exec.Command("ip", "link", "set", h3.Link, "up").Run()
		if r := fleetRun(t, c, "down", "-q", name); r.code != 0 {
			os.Remove(filepath.Join("/run/nslab/.fleet", name+".json"))
		}
		for _, h := range c.Hosts {
			inHost(h, bin+" down -q "+name)
		}
	})

	// h3's cable cut as soon as it starts to build (the preflight passed
	// everywhere; h1 and h2 build at the same time): tried again if h3
	// had built its share and answered first.
	var out strings.Builder
	failed := false
	for try := 0; try < 3 && !failed; try++ {
		out.Reset()
		up := exec.Command(bin, "up", file)
		up.Env = append(os.Environ(), "NSLAB_SSH_CONFIG="+c.Config, "NSLAB_SSH_TIMEOUT=5")
		up.Stdout, up.Stderr = &out, &out
		if err := up.Start(); err != nil {
			t.Fatal(err)
		}
		cut := false
		for deadline := time.Now().Add(90 * time.Second); !cut && time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
			for _, p := range h3.Processes() {
				pid, comm, _ := strings.Cut(p, " ")
				if args, _ := os.ReadFile("/proc/" + pid + "/cmdline"); strings.HasPrefix(comm, "nslab-") &&
					strings.Contains(string(args), "host-apply") && !strings.Contains(string(args), "--check") {
					cable(t, h3, "down")
					cut = true
					break
				}
			}
		}
		start := time.Now()
		err := up.Wait()
		if !cut {
			t.Fatalf("nslab host-apply never ran on h3 (up: %v)\n%s", err, out.String())
		}
		if err == nil {
			t.Logf("try %d: h3 built its share before its cable was cut (up ended %v after the cut); again\n%s", try+1, time.Since(start), out.String())
			cable(t, h3, "up")
			if r := fleetRun(t, c, "down", name); r.code != 0 {
				t.Fatalf("down: exit %d\n%s%s", r.code, r.stdout, r.stderr)
			}
			continue
		}
		failed = true
		t.Logf("up failed %v after the cut:\n%s", time.Since(start).Round(time.Millisecond), out.String())
	}
	if !failed {
		t.Fatal("up never failed with h3's cable cut while the hosts built, in three tries")
	}
	if s := out.String(); !strings.Contains(s, "host h3 (ssh h3)") || !strings.Contains(s, "still on host h3") {
		t.Errorf("up with h3 cut during the build: want the failure naming h3 and the lab kept on h3 alone\n%s", s)
	}
	for _, h := range []*simhost.Host{c.Host("h1"), h2} {
		if left := leftOn(h); left != "" {
			t.Errorf("%s after an up that failed on h3: left\n%s", h.Name, left)
		}
	}
	if hs := recordHosts(t, name); !slices.Equal(hs, []string{"h3"}) {
		t.Errorf("the record after the failed up holds hosts %v, want [h3]", hs)
	}
	t.Logf("h3 holds, unreachable:\n%s", leftOn(h3))

	// down while h3 is still cut: it names h3 and its nodes, exits 1 and
	// keeps the record.
	r := fleetRun(t, c, "down", name)
	if r.code != 1 || !strings.Contains(r.stderr, "host h3 (ssh h3)") || !strings.Contains(r.stderr, "host h3 keeps what it holds of lab "+name+": ") ||
		!strings.Contains(r.stderr, "nslab down --forget HOST") {
		t.Errorf("down with h3 unreachable: exit %d, want 1 naming h3, what it keeps and --forget\n%s%s", r.code, r.stdout, r.stderr)
	}
	if hs := recordHosts(t, name); !slices.Equal(hs, []string{"h3"}) {
		t.Errorf("the record after a down that could not reach h3 holds hosts %v, want [h3]", hs)
	}
	// h3 back: down removes what it holds, and the record.
	cable(t, h3, "up")
	if r := fleetRun(t, c, "down", name); r.code != 0 {
		t.Fatalf("down with h3 back: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	for _, h := range c.Hosts {
		if left := leftOn(h); left != "" {
			t.Errorf("%s after down: left\n%s", h.Name, left)
		}
	}
	if hs := recordHosts(t, name); hs != nil {
		t.Errorf("the record is left after down, with hosts %v", hs)
	}

	// A host gone for good: down fails on it until --forget drops it.
	if r := fleetRun(t, c, "up", "-q", file); r.code != 0 {
		t.Fatalf("up: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	cable(t, h3, "down")
	if r := fleetRun(t, c, "down", name); r.code != 1 || !strings.Contains(r.stderr, "still on host h3") {
		t.Errorf("down with h3 cut: exit %d, want 1 naming h3\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := fleetRun(t, c, "down", "--forget", "h4", name); r.code != 1 || !strings.Contains(r.stderr, "has no host h4 (it has: h3)") {
		t.Errorf("down --forget h4 (no such host): exit %d, want 1 naming the hosts the record has\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = fleetRun(t, c, "down", "--forget", "h3", name)
	if r.code != 0 || !strings.Contains(r.stderr, "host h3 (ssh h3) forgotten") || !strings.Contains(r.stderr, "nslab down "+name+" removes them") {
		t.Errorf("down --forget h3: exit %d, want 0 saying h3 is forgotten and what it may hold\n%s%s", r.code, r.stdout, r.stderr)
	}
	if hs := recordHosts(t, name); hs != nil {
		t.Errorf("the record is left after down --forget, with hosts %v", hs)
	}
	if left := leftOn(h3); left == "" {
		t.Errorf("h3 holds nothing after down --forget: the share should have stayed there")
	}
	// What it said to do there.
	cable(t, h3, "up")
	if out, err := onHost(t, c, "h3", bin+" down -q "+name); err != nil {
		t.Errorf("nslab down on h3: %v\n%s", err, out)
	}
	for _, h := range c.Hosts {
		if left := leftOn(h); left != "" {
			t.Errorf("%s at the end: left\n%s", h.Name, left)
		}
	}
}
