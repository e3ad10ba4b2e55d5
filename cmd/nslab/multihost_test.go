package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nslab/nslab/internal/simhost"
	"github.com/nslab/nslab/nslabtest"
	"github.com/nslab/nslab/topology"
)

// startHosts makes simulated hosts for a test (internal/simhost), closed
// at its end.
func startHosts(t *testing.T, names ...string) *simhost.Cluster {
	t.Helper()
	nslabtest.RequireRoot(t)
	if err := simhost.Available(); err != nil {
		t.Skip(err)
	}
	sub := netip.MustParsePrefix(nslabtest.Subnet(t) + ".0/24")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := simhost.Start(ctx, t.TempDir(), names, simhost.Options{Prefix: fmt.Sprintf("mh%d", os.Getpid()%100000), Subnet: sub})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Error(err)
		}
		// up copied the binary under test to the hosts, whose files are
		// this machine's.
		sum := sha256.New()
		data, _ := os.ReadFile(bin)
		sum.Write(data)
		os.Remove("/var/lib/nslab/bin/nslab-" + hex.EncodeToString(sum.Sum(nil))[:16])
		os.Remove("/var/lib/nslab/bin")
		os.Remove("/var/lib/nslab")
	})
	return c
}

// onHost runs a command line on a simulated host.
func onHost(t *testing.T, c *simhost.Cluster, host, line string) (string, error) {
	t.Helper()
	out, err := c.Command(context.Background(), host, line).CombinedOutput()
	return string(out), err
}

// TestLabAcrossHosts: a lab over three simulated machines (each its own
// network and mount namespace with sshd), a routed chain a(h1) -- b(h2)
// -- c(h3) and a bridge lan with members on all three, is brought up by
// one nslab up over ssh; traffic crosses the machines in VXLAN both over
// the cables and the bridge; down leaves nothing on any machine.
func TestLabAcrossHosts(t *testing.T) {
	c := startHosts(t, "h1", "h2", "h3")
	name := nslabtest.Name("mh")
	file := filepath.Join(t.TempDir(), name+".yaml")
	src := fmt.Sprintf(`name: %s
hosts:
  h1: {ssh: h1, address: %s}
  h2: {ssh: h2, address: %s}
  h3: {ssh: h3, address: %s}
routing: auto
addressing: {pool: [10.77.0.0/16]}
bridges:
  lan: {}
nodes:
  a: {host: h1, router: true, interfaces: {eth0: {link: lan}, eth1: {link: b:eth0}}}
  b: {host: h2, router: true, interfaces: {eth0: {}, eth1: {link: c:eth0}}}
  c: {host: h3, interfaces: {eth0: {}}}
  x: {host: h2, interfaces: {eth0: {link: lan}}}
  y: {host: h3, interfaces: {eth0: {link: lan}}}
`, name, c.Host("h1").Addr, c.Host("h2").Addr, c.Host("h3").Addr)
	if err := os.WriteFile(file, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	lab, err := topology.Parse(file, []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) result {
		cmd := exec.Command(bin, args...)
		cmd.Env = append(os.Environ(), "NSLAB_SSH_CONFIG="+c.Config)
		return runCmd(t, cmd, "", args)
	}
	t.Cleanup(func() {
		if r := run("down", "-q", name); r.code != 0 {
			// The hosts are gone with the test: forget the lab.
			os.Remove(filepath.Join("/run/nslab/.fleet", name+".json"))
		}
	})
	// A host that does not answer: nothing is built on any host, and the
	// message names it.
	bad := filepath.Join(t.TempDir(), name+"-bad.yaml")
	unreachable := c.Addr.Next().Next().Next().Next().Next().Next().Next().Next().Next().Next() // no host there
	badSrc := strings.Replace(src, "hosts:\n", fmt.Sprintf("hosts:\n  h4: {ssh: root@%s, address: %s}\n", unreachable, unreachable), 1)
	if err := os.WriteFile(bad, []byte(badSrc), 0o600); err != nil {
		t.Fatal(err)
	}
	r := run("up", bad)
	if r.code != 1 || !strings.Contains(r.stderr, "host h4 (ssh root@"+unreachable.String()+")") || !strings.Contains(r.stderr, "nothing was built on any host") {
		t.Errorf("up with an unreachable host: exit %d, want 1 naming h4 and saying nothing was built\n%s%s", r.code, r.stdout, r.stderr)
	}
	for _, h := range []string{"h1", "h2", "h3"} {
		if out, err := onHost(t, c, h, "ip netns list; ls /run/nslab 2>/dev/null | grep -v '^\\.' || true"); err != nil || strings.TrimSpace(out) != "" {
			t.Errorf("%s after an up that failed on h4: %v\n%s", h, err, out)
		}
	}

	start := time.Now()
	if r := run("up", file); r.code != 0 {
		t.Fatalf("up across three hosts: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	t.Logf("up across three hosts in %v", time.Since(start).Round(time.Millisecond))

	addr := func(node string) string {
		return lab.Node(node).Interfaces[0].Addresses[0].Addr().String()
	}
	for _, p := range []struct{ host, from, to string }{
		{"h1", "a", "c"}, // a(h1) -> b(h2) -> c(h3), routed over two cables between machines
		{"h3", "c", "a"},
		{"h2", "x", "y"}, // x(h2) -> y(h3) on the bridge spanning machines
		{"h1", "a", "y"}, // a(h1) -> y(h3) on the bridge
	} {
		// Up to three tries of two probes: the kernel's neighbour table is
		// shared by every namespace of the machine, and other labs on it
		// may fill it for a moment (sendmsg: No buffer space available).
		line := fmt.Sprintf("%s exec %s.%s -- ping -c 2 -W 3 %s", bin, name, p.from, addr(p.to))
		var out string
		var err error
		try := 0
		for ; try < 3; try++ {
			if out, err = onHost(t, c, p.host, line); err == nil {
				break
			}
		}
		if err != nil {
			t.Errorf("%s on %s -> %s (%s): %v\n%s", p.from, p.host, p.to, addr(p.to), err, out)
		} else if try > 0 {
			t.Logf("%s -> %s answered at try %d", p.from, p.to, try+1)
		}
	}
	// The machine that ran up shows each host's share, and runs commands
	// in any node, on its host, with the command's exit status.
	r = run("status", name)
	if r.code != 0 || !strings.Contains(r.stdout, "host h2 (ssh h2):") || !strings.Contains(r.stdout, name+"  x ") {
		t.Errorf("status of the lab across hosts: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := run("exec", name+".c", "--", "sh", "-c", "hostname; exit 7"); r.code != 7 || strings.TrimSpace(r.stdout) != "c" {
		t.Errorf("exec in c (on h3) from here: exit %d, want 7 and its hostname c\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := run("exec", name+".y", "--", "ping", "-c", "2", "-W", "3", addr("a")); r.code != 0 {
		t.Errorf("exec y -- ping a from here: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	// check from here: every host probes from its nodes, one report.
	r = run("check", "-o", "json", name)
	var rep struct {
		Probes []struct{ From string } `json:"probes"`
		Passed int                     `json:"passed"`
		Failed int                     `json:"failed"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil || r.code != 0 || rep.Failed != 0 {
		t.Errorf("check across hosts: exit %d, %v\n%s%s", r.code, err, r.stdout, r.stderr)
	}
	from := map[string]bool{}
	for _, p := range rep.Probes {
		from[p.From] = true
	}
	if len(from) != 5 || rep.Passed < 20 {
		t.Errorf("check across hosts probed from %v, %d passed: want all five nodes", from, rep.Passed)
	}
	t.Logf("check across hosts: %d probes passed from %d nodes", rep.Passed, len(from))

	// A cable between machines cut on one side stops the traffic, and
	// joins again.
	aToC := fmt.Sprintf("%s exec %s.a -- ping -c 1 -W 2 %s", bin, name, addr("c"))
	if out, err := onHost(t, c, "h1", bin+" link down "+name+".a:eth1"); err != nil {
		t.Fatalf("link down a:eth1 on h1: %v\n%s", err, out)
	}
	if out, err := onHost(t, c, "h1", aToC); err == nil {
		t.Errorf("a reaches c with the cable a -- b (h1 -- h2) cut:\n%s", out)
	}
	if out, err := onHost(t, c, "h1", bin+" link up "+name+".a:eth1"); err != nil {
		t.Fatalf("link up a:eth1 on h1: %v\n%s", err, out)
	}
	if out, err := onHost(t, c, "h1", aToC); err != nil {
		t.Errorf("a does not reach c after the cable a -- b was joined: %v\n%s", err, out)
	}

	// Every machine holds its share only.
	for _, h := range []string{"h1", "h2", "h3"} {
		out, _ := onHost(t, c, h, "ip netns list; ip -o link show type vxlan")
		t.Logf("%s:\n%s", h, out)
	}

	if r := run("down", name); r.code != 0 {
		t.Fatalf("down: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	for _, h := range []string{"h1", "h2", "h3"} {
		out, err := onHost(t, c, h, "ip netns list; ip -o link show type vxlan; ip -o link show type bridge; ls /run/nslab 2>/dev/null | grep -v '^\\.' || true")
		if err != nil || strings.TrimSpace(out) != "" {
			t.Errorf("%s after down: %v\n%s", h, err, out)
		}
	}
	if _, err := os.Stat(filepath.Join("/run/nslab/.fleet", name+".json")); err == nil {
		t.Errorf("the record of the lab across hosts is left after down")
	}
	if ents, err := os.ReadDir("/run/nslab/.fleet"); err == nil && len(ents) == 0 {
		t.Errorf("an empty /run/nslab/.fleet is left after down")
	}
}

// TestLabAcrossHostsKilled: nslab killed part-way on one host makes up
// fail and remove the lab from every host; the machine that runs up
// killed part-way leaves a lab that down removes from every host.
func TestLabAcrossHostsKilled(t *testing.T) {
	c := startHosts(t, "h1", "h2", "h3")
	name := nslabtest.Name("mk")
	file := filepath.Join(t.TempDir(), name+".yaml")
	var b strings.Builder
	fmt.Fprintf(&b, "name: %s\nhosts:\n", name)
	for _, h := range c.Hosts {
		fmt.Fprintf(&b, "  %s: {ssh: %s, address: %s}\n", h.Name, h.Name, h.Addr)
	}
	b.WriteString("addressing: {pool: [10.78.0.0/16]}\nbridges:\n  lan: {}\nnodes:\n")
	for i := range 150 {
		fmt.Fprintf(&b, "  n%d: {interfaces: {eth0: {link: lan}}}\n", i)
	}
	if err := os.WriteFile(file, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	env := append(os.Environ(), "NSLAB_SSH_CONFIG="+c.Config)
	run := func(args ...string) result {
		cmd := exec.Command(bin, args...)
		cmd.Env = env
		return runCmd(t, cmd, "", args)
	}
	t.Cleanup(func() {
		if r := run("down", "-q", name); r.code != 0 {
			os.Remove(filepath.Join("/run/nslab/.fleet", name+".json"))
		}
	})
	nothingLeft := func(when string) {
		t.Helper()
		for _, h := range c.Hosts {
			out, err := onHost(t, c, h.Name, "ip netns list; ip -o link show type vxlan; ip -o link show type bridge; ls /run/nslab 2>/dev/null | grep -v '^\\.' | sed \"s|^|/run/nslab/|\" | xargs -r ls -la --time-style=full-iso")
			if err != nil || strings.TrimSpace(out) != "" {
				t.Errorf("%s: %s: %v\n%s", when, h.Name, err, out)
			}
		}
	}

	// nslab on h2 killed while it builds its share (tried again when the
	// share was built before the kill landed).
	h2 := c.Host("h2")
	var out strings.Builder
	landed := false
	for try := 0; try < 4 && !landed; try++ {
		out.Reset()
		up := exec.Command(bin, "up", file)
		up.Env = env
		up.Stdout, up.Stderr = &out, &out
		if err := up.Start(); err != nil {
			t.Fatal(err)
		}
		killed := ""
		for deadline := time.Now().Add(90 * time.Second); killed == "" && time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
			for _, p := range h2.Processes() {
				pid, comm, _ := strings.Cut(p, " ")
				if !strings.HasPrefix(comm, "nslab-") {
					continue
				}
				if args, _ := os.ReadFile("/proc/" + pid + "/cmdline"); strings.Contains(string(args), "host-apply") && !strings.Contains(string(args), "--check") {
					time.Sleep(time.Duration(try) * 30 * time.Millisecond)
					exec.Command("kill", "-KILL", pid).Run()
					killed = pid
					break
				}
			}
		}
		err := up.Wait()
		if killed == "" {
			t.Fatalf("nslab host-apply never ran on h2 (up: %v)\n%s", err, out.String())
		}
		if err == nil {
			t.Logf("try %d: h2 built its share before the kill landed; again", try+1)
			if r := run("down", name); r.code != 0 {
				t.Fatalf("down: exit %d\n%s%s", r.code, r.stdout, r.stderr)
			}
			continue
		}
		landed = true
		if !strings.Contains(out.String(), "host h2 (ssh h2)") || !strings.Contains(out.String(), "removed from every host") {
			t.Errorf("up with nslab killed on h2: %v, want a failure naming h2 and the lab removed from every host\n%s", err, out.String())
		}
	}
	if !landed {
		t.Fatal("no kill landed while h2 built its share in four tries")
	}
	nothingLeft("after nslab was killed on h2")

	// The machine that runs up killed while the hosts build: down removes
	// the lab from every host.
	up := exec.Command(bin, "up", file)
	up.Env = env
	up.Stdout, up.Stderr = &out, &out
	if err := up.Start(); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(90 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if _, err := os.Stat(filepath.Join("/run/nslab/.fleet", name+".json")); err == nil {
			break // the hosts are building
		}
	}
	time.Sleep(500 * time.Millisecond)
	up.Process.Kill()
	up.Wait()
	// The hosts go on building their shares; down waits on each host's
	// lock of the lab, then removes it.
	if r := run("down", name); r.code != 0 {
		t.Errorf("down after up was killed: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	nothingLeft("down after up was killed")
}
