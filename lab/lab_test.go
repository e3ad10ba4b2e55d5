package lab_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nslab/nslab/check"
	"github.com/nslab/nslab/lab"
	"github.com/nslab/nslab/nslabtest"
	"github.com/nslab/nslab/plan"
	"github.com/nslab/nslab/topology"
)

// seed returns the seed topology, dual-stack, on a subnet reserved for
// the test so that labs of tests running in parallel do not overlap.
func seed(t *testing.T) string {
	s := nslabtest.Subnet(t)
	v6 := "fd10:" + strings.ReplaceAll(strings.TrimPrefix(s, "10."), ".", ":") + "::"
	return strings.NewReplacer("10.0.0.", s+".", "fd10:99::", v6).Replace(`
bridges:
  br-ns:
    addresses: [10.0.0.1/24, fd10:99::1/64]
nodes:
  ns1:
    interfaces:
      eth0:
        link: br-ns
        addresses: [10.0.0.2/24, fd10:99::2/64]
  ns2:
    interfaces:
      eth0:
        link: br-ns
        addresses: [10.0.0.3/24, fd10:99::3/64]
`)
}

// up builds a lab from YAML under a unique name and registers its
// teardown and leak check.
func up(t *testing.T, yaml string) *topology.Lab { return upNamed(t, "t", yaml) }

// upNamed brings up a lab of a unique name that starts with prefix, taken
// down and checked for leaks when the test ends.
func upNamed(t testing.TB, prefix, yaml string) *topology.Lab {
	t.Helper()
	nslabtest.RequireRoot(t)
	tl := parseNamed(t, prefix, yaml)
	t.Cleanup(func() {
		if err := lab.Down(context.Background(), tl.Name, lab.Options{}); err != nil {
			t.Errorf("down: %v", err)
		}
		nslabtest.CheckLeaks(t, tl.Name)
	})
	if err := lab.Up(context.Background(), tl, sources[tl], lab.Options{}); err != nil {
		t.Fatalf("up: %v", err)
	}
	return tl
}

// parse gives a topology a unique lab name; the lab keeps its source in
// sources for up.
func parse(t *testing.T, yaml string) *topology.Lab { return parseNamed(t, "t", yaml) }

func parseNamed(t testing.TB, prefix, yaml string) *topology.Lab {
	t.Helper()
	name := nslabtest.Name(prefix)
	nslabtest.CheckLeaksAtEnd(t, name)
	src := []byte("name: " + name + "\n" + yaml)
	tl, err := topology.Parse(name+".yaml", src)
	if err != nil {
		t.Fatal(err)
	}
	sources[tl] = src
	return tl
}

var sources = map[*topology.Lab][]byte{}

func TestUpSeedIsReachableAtOnce(t *testing.T) {
	tl := up(t, seed(t))
	netns := nslabtest.IP(t, "netns", "list")
	for _, n := range []string{"ns1", "ns2"} {
		if !strings.Contains(netns, tl.Name+"."+n) {
			t.Errorf("ip netns list lacks %s.%s:\n%s", tl.Name, n, netns)
		}
	}
	addr := nslabtest.IP(t, "-n", tl.Name+".ns1", "addr", "show", "eth0")
	want := tl.Node("ns1").Interfaces[0].Addresses
	if len(want) != 2 || !strings.Contains(addr, want[0].String()) || !strings.Contains(addr, want[1].String()) || strings.Contains(addr, "tentative") {
		t.Errorf("ns1 eth0 addresses: %s", addr)
	}
	br := nslabtest.IP(t, "-d", "link", "show", "br-ns."+tl.Name)
	if !strings.Contains(br, "bridge") || !strings.Contains(br, "nslab:"+tl.Name+":bridge:br-ns") {
		t.Errorf("bridge by altname: %s", br)
	}
	rep, err := lab.Check(context.Background(), tl, check.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Failed > 0 || rep.Passed == 0 {
		var b strings.Builder
		rep.WriteMatrix(&b)
		t.Errorf("check: %d failed, %d passed\n%s", rep.Failed, rep.Passed, b.String())
	}
}

func TestUpRefusesForeignNamespace(t *testing.T) {
	nslabtest.RequireRoot(t)
	tl := parse(t, seed(t))
	foreign := tl.Name + ".ns2"
	nslabtest.Netns(t, foreign)

	err := lab.Up(context.Background(), tl, sources[tl], lab.Options{})
	var clash *plan.ClashError
	if !errors.As(err, &clash) {
		t.Fatalf("up over a foreign namespace: got %v, want a ClashError", err)
	}
	if !strings.Contains(err.Error(), foreign) {
		t.Errorf("error does not name the namespace: %v", err)
	}
	if !strings.Contains(nslabtest.IP(t, "netns", "list"), foreign) {
		t.Errorf("foreign namespace %s was removed", foreign)
	}
	if err := lab.Down(context.Background(), tl.Name, lab.Options{}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(nslabtest.IP(t, "netns", "list"), foreign) {
		t.Errorf("down removed the foreign namespace %s", foreign)
	}
	exec.Command("ip", "netns", "delete", foreign).Run()
	nslabtest.CheckLeaks(t, tl.Name)
}

func TestUpRefusesForeignBridgeName(t *testing.T) {
	nslabtest.RequireRoot(t)
	tl := parse(t, seed(t))
	alt := plan.BridgeAltName(tl.Name, "br-ns")
	nslabtest.IP(t, "link", "add", "nslfor0", "type", "bridge")
	t.Cleanup(func() { exec.Command("ip", "link", "delete", "nslfor0").Run() })
	nslabtest.IP(t, "link", "property", "add", "dev", "nslfor0", "altname", alt)

	err := lab.Up(context.Background(), tl, sources[tl], lab.Options{})
	if err == nil || !strings.Contains(err.Error(), "nslfor0") {
		t.Fatalf("up over a foreign bridge name: got %v", err)
	}
	lab.Down(context.Background(), tl.Name, lab.Options{})
	if !strings.Contains(nslabtest.IP(t, "link", "show", "nslfor0"), alt) {
		t.Error("the foreign bridge lost its name")
	}
	nslabtest.IP(t, "link", "delete", "nslfor0")
	nslabtest.CheckLeaks(t, tl.Name)
}

func TestUpTwiceChangesNothing(t *testing.T) {
	tl := up(t, seed(t))
	// ip may add "Error: Peer netns reference is invalid." while other
	// tests' namespaces come and go: only the link's own lines count.
	eth0 := func() string {
		var keep []string
		for _, l := range strings.Split(nslabtest.IP(t, "-n", tl.Name+".ns1", "-d", "link", "show", "eth0"), "\n") {
			if !strings.HasPrefix(l, "Error:") {
				keep = append(keep, l)
			}
		}
		return strings.Join(keep, "\n")
	}
	before := eth0()
	var log []string
	// A lock another nslab on the machine holds (other tests, other
	// packages' tests) is waited for with a notice: it is not a change.
	err := lab.Up(context.Background(), tl, sources[tl], lab.Options{Logf: func(f string, a ...any) {
		if m := fmt.Sprintf(f, a...); !strings.Contains(m, "lock is busy") {
			log = append(log, m)
		}
	}})
	if err != nil {
		t.Fatalf("second up: %v", err)
	}
	if len(log) != 1 || !strings.Contains(log[0], "nothing to change") {
		t.Errorf("second up said %q, want that there is nothing to change", log)
	}
	if after := eth0(); after != before {
		t.Errorf("second up changed ns1's eth0:\n%s\n%s", before, after)
	}
}

// TestSysctlOfSeveralWords: a setting of several values (the local port
// range) is written as the kernel reads it, and a second up finds it as
// built (the kernel prints it with a tab). Before, the file was refused:
// "must be one word without spaces".
func TestSysctlOfSeveralWords(t *testing.T) {
	tl := up(t, seed(t)+`
    sysctls:
      net.ipv4.ip_local_port_range: "20000   20999"
`)
	out := nslabtest.IP(t, "netns", "exec", tl.Name+".ns2", "cat", "/proc/sys/net/ipv4/ip_local_port_range")
	if strings.Join(strings.Fields(out), " ") != "20000 20999" {
		t.Errorf("ns2's port range is %q, want 20000 20999", out)
	}
	var log []string
	err := lab.Up(context.Background(), tl, sources[tl], lab.Options{Logf: func(f string, a ...any) {
		if m := fmt.Sprintf(f, a...); !strings.Contains(m, "lock is busy") {
			log = append(log, m)
		}
	}})
	if err != nil || len(log) != 1 || !strings.Contains(log[0], "nothing to change") {
		t.Errorf("second up: %v, said %q; want nothing to change", err, log)
	}
}

// TestFailedUpLeavesNothing fails a build part-way: the kernel refuses a
// setting's value once the nodes and links exist.
func TestFailedUpLeavesNothing(t *testing.T) {
	nslabtest.RequireRoot(t)
	tl := parse(t, seed(t)+`
    sysctls:
      net.ipv4.ip_default_ttl: 300
`)
	err := lab.Up(context.Background(), tl, sources[tl], lab.Options{})
	want := fmt.Sprintf("%s.yaml:19:7: node ns2 (namespace %s.ns2): setting sysctls: setting net.ipv4.ip_default_ttl=300: ", tl.Name, tl.Name)
	if err == nil || !strings.HasPrefix(err.Error(), want) || !strings.Contains(err.Error(), "nothing of lab "+tl.Name+" was left behind") {
		t.Fatalf("up with a setting out of range: got %v, want %q...", err, want)
	}
	nslabtest.CheckLeaks(t, tl.Name)
}

// TestUnknownSysctlRefusedFirst: a setting this kernel does not have is
// reported at its line before anything is built.
func TestUnknownSysctlRefusedFirst(t *testing.T) {
	nslabtest.RequireRoot(t)
	tl := parse(t, seed(t)+`
    sysctls:
      net.ipv4.no_such_setting: 1
`)
	err := lab.Up(context.Background(), tl, sources[tl], lab.Options{})
	want := tl.Name + ".yaml:19:7: sysctl net.ipv4.no_such_setting: this kernel has no such setting"
	if err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Fatalf("up with an unknown sysctl: got %v, want %q...", err, want)
	}
	if strings.Contains(err.Error(), "left behind") {
		t.Errorf("refused after building began: %v", err)
	}
	nslabtest.CheckLeaks(t, tl.Name)
}

// TestHostWideSysctlRefusedFirst: a setting the kernel keeps once for the
// whole machine (read-only or missing in a new namespace) is reported at
// its line before anything is built, not as "permission denied" part-way.
func TestHostWideSysctlRefusedFirst(t *testing.T) {
	nslabtest.RequireRoot(t)
	tl := parse(t, seed(t)+`
    sysctls:
      net.core.somaxconn: 512
      net.core.rmem_max: 8388608
      net.core.netdev_max_backlog: 2000
      net.ipv4.ip_forward: 1
`)
	err := lab.Up(context.Background(), tl, sources[tl], lab.Options{})
	if err == nil {
		t.Fatal("up with host-wide sysctls succeeded")
	}
	for _, want := range []string{
		tl.Name + ".yaml:20:7: sysctl net.core.rmem_max: this setting is host-wide",
		tl.Name + ".yaml:21:7: sysctl net.core.netdev_max_backlog: this setting is host-wide",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("up with host-wide sysctls: got %v, want %q...", err, want)
		}
	}
	if strings.Contains(err.Error(), "somaxconn") || strings.Contains(err.Error(), "ip_forward") || strings.Contains(err.Error(), "left behind") {
		t.Errorf("a per-namespace setting refused, or refused after building began: %v", err)
	}
	nslabtest.CheckLeaks(t, tl.Name)
}

func TestTwoLabsWithTheSameNodes(t *testing.T) {
	a := up(t, seed(t))
	b := up(t, seed(t))
	for _, tl := range []*topology.Lab{a, b} {
		rep, err := lab.Check(context.Background(), tl, check.Options{})
		if err != nil || rep.Failed > 0 {
			t.Errorf("lab %s: check %v, %d failed", tl.Name, err, rep.Failed)
		}
	}
	if _, err := lab.FindNode("ns1"); err == nil || !strings.Contains(err.Error(), a.Name+".ns1") {
		t.Errorf("FindNode(ns1) with two labs: got %v, want an ambiguity error naming %s.ns1", err, a.Name)
	}
	n, err := lab.FindNode(b.Name + ".ns1")
	if err != nil || n.Lab != b.Name {
		t.Errorf("FindNode(%s.ns1) = %v, %v", b.Name, n, err)
	}
}

func TestDownEndsProcesses(t *testing.T) {
	nslabtest.RequireRoot(t)
	tl := parse(t, seed(t))
	if err := lab.Up(context.Background(), tl, sources[tl], lab.Options{}); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("ip", "netns", "exec", tl.Name+".ns1", "sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	procs, err := lab.Processes([]string{tl.Name})
	for i := 0; err == nil && len(procs) == 0 && i < 100; i++ {
		time.Sleep(10 * time.Millisecond)
		procs, err = lab.Processes([]string{tl.Name})
	}
	if err != nil || len(procs) != 1 || procs[0].Node != "ns1" {
		t.Errorf("processes: %+v, %v", procs, err)
	}
	if err := lab.Down(context.Background(), tl.Name, lab.Options{}); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err == nil {
		t.Error("sleep in the lab was not ended by down")
	}
	nslabtest.CheckLeaks(t, tl.Name)
}

func TestConcurrentUpsOfOneLab(t *testing.T) {
	nslabtest.RequireRoot(t)
	tl := parse(t, seed(t))
	t.Cleanup(func() {
		if err := lab.Down(context.Background(), tl.Name, lab.Options{}); err != nil {
			t.Error(err)
		}
		nslabtest.CheckLeaks(t, tl.Name)
	})
	errs := make(chan error, 2)
	for range 2 {
		go func() { errs <- lab.Up(context.Background(), tl, sources[tl], lab.Options{}) }()
	}
	// One builds the lab; the other waits for the lock, then finds the
	// lab as the file says and changes nothing.
	if e1, e2 := <-errs, <-errs; e1 != nil || e2 != nil {
		t.Errorf("two ups at once: got %v and %v, want two successes", e1, e2)
	}
	rep, err := lab.Check(context.Background(), tl, check.Options{})
	if err != nil || rep.Failed > 0 {
		t.Errorf("the lab after two ups: %v, %d failed", err, rep.Failed)
	}
}

// TestFailedUpLeavesNoLock: an up that fails before it builds anything
// (here /run/netns cannot be prepared: the lock that guards it is a
// directory) leaves no lock file of the lab behind.
func TestFailedUpLeavesNoLock(t *testing.T) {
	nslabtest.RequireRoot(t)
	saved := lab.StateDir
	lab.StateDir = t.TempDir()
	t.Cleanup(func() { lab.StateDir = saved })
	if err := os.MkdirAll(filepath.Join(lab.StateDir, ".locks", ".netns-dir"), 0o700); err != nil {
		t.Fatal(err)
	}
	tl := parse(t, "nodes:\n  a: {}\n")
	if err := lab.Up(context.Background(), tl, sources[tl], lab.Options{}); err == nil {
		t.Fatal("up succeeded where /run/netns cannot be prepared")
	}
	if _, err := os.Stat(filepath.Join(lab.StateDir, ".locks", tl.Name)); err == nil {
		t.Errorf("the failed up left the lock file of lab %s", tl.Name)
	}
}

// TestUpKeepsParsedSource: a lab parsed by topology.Parse is built with
// no source beside it (t.Source is kept), and its second up finds it
// running and unchanged; a Lab with no text at all is refused.
func TestUpKeepsParsedSource(t *testing.T) {
	nslabtest.RequireRoot(t)
	tl := parse(t, "nodes:\n  a: {interfaces: {eth0: {link: b:eth0, addresses: [10.201.0.1/31]}}}\n  b: {interfaces: {eth0: {addresses: [10.201.0.0/31]}}}\n")
	t.Cleanup(func() {
		if err := lab.Down(context.Background(), tl.Name, lab.Options{}); err != nil {
			t.Errorf("down: %v", err)
		}
	})
	if string(tl.Source) != string(sources[tl]) {
		t.Fatalf("topology.Parse kept %q, want the text it parsed", tl.Source)
	}
	for range 2 {
		var said []string
		if err := lab.Up(context.Background(), tl, nil, lab.Options{Logf: func(f string, a ...any) { said = append(said, fmt.Sprintf(f, a...)) }}); err != nil {
			t.Fatalf("up with the source the lab keeps: %v", err)
		}
		t.Log(said)
	}
	bare := &topology.Lab{Name: nslabtest.Name("t")}
	if err := lab.Up(context.Background(), bare, nil, lab.Options{}); err == nil || !strings.Contains(err.Error(), "no source") {
		t.Errorf("up of a lab with no text: %v, want it refused", err)
	}
}
