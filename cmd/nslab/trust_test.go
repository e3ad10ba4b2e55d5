package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nslab/nslab/nslabtest"
	"github.com/nslab/nslab/plan"
)

// nslabAs runs the binary with cmd's credentials or wrapper: prefix is
// put before the binary (setpriv with its options, say).
func nslabAs(t *testing.T, cred *syscall.Credential, prefix []string, args ...string) result {
	t.Helper()
	argv := append(append(prefix, bin), args...)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	return runCmd(t, cmd, "", args)
}

// TestWithoutPrivileges runs every command that reads or changes a lab
// as an unprivileged user (nobody) and as root stripped of CAP_NET_ADMIN
// and CAP_SYS_ADMIN, against a running lab: each must say that it needs
// root, not that the lab or its nodes are missing, and change nothing.
func TestWithoutPrivileges(t *testing.T) {
	subnet := nslabtest.Subnet(t)
	file, name := seedFile(t, subnet)
	if r := nslab(t, "", "up", file); r.code != 0 {
		t.Fatalf("up: %s", r.stderr)
	}
	commands := [][]string{
		{"status"}, {"status", name}, {"ps", name}, {"check", name},
		{"exec", name + ".ns1", "--", "true"}, {"exec", "ns1", "true"}, {"shell", name + ".ns1"},
		{"link", "down", name + ".ns1:eth0"}, {"link", "up", name + ".ns1:eth0"},
		{"partition", name + ".ns1", name + ".ns2"}, {"heal", name},
		{"up", file}, {"down", name}, {"demo", "--lab", name + "x"}, {"logs", name + ".ns1"}, {"logs", "-f", "ns1/x"},
	}
	users := map[string]func(args ...string) result{
		"nobody": func(args ...string) result {
			return nslabAs(t, &syscall.Credential{Uid: 65534, Gid: 65534}, nil, args...)
		},
	}
	if setpriv, err := exec.LookPath("setpriv"); err == nil {
		users["root without capabilities"] = func(args ...string) result {
			return nslabAs(t, nil, []string{setpriv, "--bounding-set", "-net_admin,-sys_admin", "--inh-caps", "-net_admin,-sys_admin"}, args...)
		}
		// Given the network and namespace capabilities, another user still
		// cannot open the state and locks, which are root's alone.
		users["nobody with CAP_NET_ADMIN and CAP_SYS_ADMIN"] = func(args ...string) result {
			return nslabAs(t, nil, []string{setpriv, "--reuid=65534", "--regid=65534", "--clear-groups",
				"--inh-caps=+net_admin,+sys_admin", "--ambient-caps=+net_admin,+sys_admin"}, args...)
		}
	} else {
		t.Log("no setpriv: root without capabilities is not tried")
	}
	for who, run := range users {
		for _, args := range commands {
			r := run(args...)
			if r.code != 1 || !strings.Contains(r.stderr, "needs root, or the capabilities CAP_NET_ADMIN, CAP_SYS_ADMIN and CAP_DAC_OVERRIDE") || r.stdout != "" {
				t.Errorf("%s: nslab %s: code %d, stdout %q, stderr %q; want 1 and that it needs root",
					who, strings.Join(args, " "), r.code, r.stdout, r.stderr)
			}
		}
		// What needs no privileges still works.
		if r := run("validate", "../../examples/seed.yaml"); r.code != 0 {
			t.Errorf("%s: validate: code %d %s", who, r.code, r.stderr)
		}
	}
	// The lab is as it was: up, every cable joined, no partition.
	if r := nslab(t, "", "check", name); r.code != 0 {
		t.Errorf("check after the unprivileged commands: code %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

// startIn runs a long sleep in a node through nslab exec; the channel
// closes when it has ended. It is killed at the end of the test.
func startIn(t *testing.T, node string) <-chan struct{} {
	t.Helper()
	cmd := exec.Command(bin, "exec", node, "sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-done
	})
	// exec replaces itself with sleep in the node: wait until it is there.
	for range 200 {
		if r := nslab(t, "", "ps", strings.SplitN(node, ".", 2)[0]); strings.Contains(r.stdout, "sleep 60") {
			return done
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("sleep 60 did not start in %s", node)
	return nil
}

// running reports whether a command of startIn still runs.
func running(done <-chan struct{}) bool {
	select {
	case <-done:
		return false
	default:
		return true
	}
}

// netns lists the named namespaces, as ip netns list.
func netns(t *testing.T) []string {
	var out []string
	for _, line := range strings.Split(nslabtest.IP(t, "netns", "list"), "\n") {
		if f := strings.Fields(line); len(f) > 0 {
			out = append(out, f[0])
		}
	}
	return out
}

// TestUpReplace changes a running lab in ways that keep, remove and remake
// a node that runs a process: up refuses the last two without --replace,
// naming the node and the process and changing nothing; -q leaves only
// errors; heal says when there is no partition.
func TestUpReplace(t *testing.T) {
	subnet := nslabtest.Subnet(t)
	file, name := seedFile(t, subnet)
	if r := nslab(t, "", "up", "-q", file); r.code != 0 || r.stdout != "" || r.stderr != "" {
		t.Fatalf("up -q: code %d, %q %q", r.code, r.stdout, r.stderr)
	}
	seed, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	write := func(base, yaml string) string {
		path := filepath.Join(filepath.Dir(file), base)
		if err := os.WriteFile(path, []byte(yaml), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	ns3 := fmt.Sprintf("  ns3:\n    interfaces:\n      eth0: {link: br-ns, addresses: [%s.4/24]}\n", subnet)
	// Another file under the lab's name: ns2 goes, ns3 comes.
	other := write("other.yaml", fmt.Sprintf(`name: other
bridges:
  br-ns: {addresses: [%[1]s.1/24]}
nodes:
  ns1:
    interfaces:
      eth0: {link: br-ns, addresses: [%[1]s.2/24]}
`, subnet)+ns3)
	withNs3 := write("with-ns3.yaml", string(seed)+ns3)
	withSysctl := write("sysctl.yaml", strings.Replace(string(seed), "  ns2:\n", "  ns2:\n    sysctls: {net.ipv4.ip_forward: 1}\n", 1))

	t.Run("plan --full of a running lab", func(t *testing.T) {
		if r := nslab(t, "", "plan", file); !strings.Contains(r.stdout, "# nothing to change") {
			t.Errorf("plan of the running lab: code %d\n%s%s", r.code, r.stdout, r.stderr)
		}
		r := nslab(t, "", "plan", "--full", file)
		for _, want := range []string{"ip netns add " + name + ".ns1", "ip -n " + name + ".ns2 addr add " + subnet + ".3/24 dev eth0", "type bridge"} {
			if r.code != 0 || !strings.Contains(r.stdout, want) {
				t.Errorf("plan --full lacks %q: code %d\n%s%s", want, r.code, r.stdout, r.stderr)
			}
		}
	})
	t.Run("heal without a partition", func(t *testing.T) {
		want := "lab " + name + " has no fault in force: nothing to heal\n"
		if r := nslab(t, "", "heal", name); r.code != 0 || r.stdout != want {
			t.Errorf("heal: code %d, %q %q; want 0, %q", r.code, r.stdout, r.stderr, want)
		}
	})

	sleeper := startIn(t, name+".ns2")
	refused := func(what string, args ...string) {
		t.Helper()
		r := nslab(t, "", args...)
		for _, want := range []string{"lab " + name + " is running", "node ns2,", "ns2: pid ", "sleep 60", "nothing was changed", "nslab up --replace"} {
			if !strings.Contains(r.stderr, want) {
				t.Errorf("%s: stderr lacks %q: code %d\n%s", what, want, r.code, r.stderr)
			}
		}
		if r.code != 1 {
			t.Errorf("%s: code %d, want 1", what, r.code)
		}
		if !running(sleeper) {
			t.Fatalf("%s: the process in ns2 ended", what)
		}
	}
	refused("another file", "up", "--lab", name, other)
	if ns := netns(t); slices.Contains(ns, name+".ns3") || !slices.Contains(ns, name+".ns2") {
		t.Errorf("the refused change changed the lab: %v", ns)
	}
	// A change that keeps ns2 needs no --replace; -q prints nothing.
	if r := nslab(t, "", "up", "-q", withNs3); r.code != 0 || r.stdout != "" || r.stderr != "" {
		t.Errorf("up -q adding ns3: code %d, %q %q; want 0 and nothing printed", r.code, r.stdout, r.stderr)
	}
	if r := nslab(t, "", "up", withSysctl); r.code != 0 {
		t.Errorf("up adding a sysctl to ns2: code %d %s", r.code, r.stderr)
	}
	if !running(sleeper) {
		t.Fatal("changes that keep ns2 ended its process")
	}
	// Taking a sysctl away makes ns2 anew.
	refused("ns2 made anew", "up", file)
	r := nslab(t, "", "up", "--replace", "--lab", name, other)
	if r.code != 0 || !strings.Contains(r.stderr, "ended 1 process in ns2") {
		t.Errorf("up --replace: code %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	select {
	case <-sleeper:
	case <-time.After(5 * time.Second):
		t.Error("up --replace left the process of ns2 running")
	}
	if ns := netns(t); !slices.Contains(ns, name+".ns3") || slices.Contains(ns, name+".ns2") {
		t.Errorf("up --replace did not replace ns2 by ns3: %v", ns)
	}
	if r := nslab(t, "", "down", "-q", name); r.code != 0 || r.stdout != "" || r.stderr != "" {
		t.Errorf("down -q: code %d, %q %q; want 0 and nothing printed", r.code, r.stdout, r.stderr)
	}
}

// TestDownAllRecounts holds a lab's lock in a sandbox while down --all
// waits for it, and meanwhile removes a node as another nslab might:
// down --all must report what it removed, counted once it holds the
// lock, not what it saw before it waited.
func TestDownAllRecounts(t *testing.T) {
	nslabtest.RequireRoot(t)
	if _, err := exec.LookPath("flock"); err != nil {
		t.Skip("needs flock(1)")
	}
	sb := newSandbox(t)
	r := nslab(t, "", "gen", "star", "--nodes", "3", "--name", "alpha")
	if r.code != 0 {
		t.Fatal(r.stderr)
	}
	file := filepath.Join(t.TempDir(), "alpha.yaml")
	if err := os.WriteFile(file, []byte(r.stdout), 0o644); err != nil {
		t.Fatal(err)
	}
	sb.must(bin, "up", "-q", file)
	// One process holds the lock, waits until down --all waits for it,
	// removes h1 and lets go.
	sb.must("sh", "-c", `
flock -o /run/nslab/.locks/alpha sh -c '
touch /run/held
for i in $(seq 200); do grep -q wait /run/out 2>/dev/null && break; sleep 0.05; done
ip link delete `+plan.PortName("alpha", "h1", "eth0")+`
ip netns delete alpha.h1
echo released >>/run/out' &
for i in $(seq 200); do [ -e /run/held ] && break; sleep 0.05; done
timeout 60 `+bin+` down --all >>/run/out 2>&1
wait`)
	out := sb.must("cat", "/run/out")
	if !strings.Contains(out, "wait") || !strings.Contains(out, "released") {
		t.Fatalf("down --all did not wait for the lock:\n%s", out)
	}
	// 2 nodes, and the bridge and 2 ports.
	if want := "lab alpha is down: removed 2 namespaces, 3 links, state\n"; !strings.Contains(out, want) {
		t.Errorf("down --all does not say %q:\n%s", want, out)
	}
	if left := sb.must("ls", "-A", "/run/netns"); left != "" {
		t.Errorf("namespaces left: %s", left)
	}
}

// complete runs cobra's __complete and returns the offered words and the
// directive line.
func complete(t *testing.T, args ...string) ([]string, string) {
	t.Helper()
	r := nslab(t, "", append([]string{"__complete"}, args...)...)
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if r.code != 0 || len(lines) == 0 || !strings.HasPrefix(lines[len(lines)-1], ":") {
		t.Fatalf("__complete %v: code %d\n%s%s", args, r.code, r.stdout, r.stderr)
	}
	return lines[:len(lines)-1], lines[len(lines)-1]
}

// TestCompletionAndOrder: completion offers labs for down, LAB.NODE:IF for
// link, nodes for partition; listings and completions put h2 before h10.
func TestCompletionAndOrder(t *testing.T) {
	subnet := nslabtest.Subnet(t)
	file, name := seedFile(t, subnet)
	yaml := fmt.Sprintf(`name: %s
bridges:
  br0: {addresses: [%[2]s.1/24]}
nodes:
  h10:
    interfaces:
      eth0: {link: br0, addresses: [%[2]s.10/24]}
  h2:
    interfaces:
      eth0: {link: br0, addresses: [%[2]s.2/24]}
  h1:
    interfaces:
      eth0: {link: br0, addresses: [%[2]s.3/24]}
`, name, subnet)
	if err := os.WriteFile(file, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	if r := nslab(t, "", "up", "-q", file); r.code != 0 {
		t.Fatalf("up: %s", r.stderr)
	}
	q := func(nodes ...string) []string {
		var out []string
		for _, n := range nodes {
			out = append(out, name+"."+n)
		}
		return out
	}
	for _, c := range []struct {
		args []string
		want []string
	}{
		{[]string{"down", name}, []string{name}},
		{[]string{"heal", name}, []string{name}},
		{[]string{"status", name}, []string{name}},
		{[]string{"exec", name + "."}, q("h1", "h2", "h10")},
		{[]string{"link", "down", name + ".h"}, q("h1:eth0", "h2:eth0", "h10:eth0")},
		{[]string{"link", "up", name + ".h2:"}, q("h2:eth0")},
		{[]string{"partition", name + ".h1", ""}, q("h2", "h10")},
		{[]string{"partition", name + ".h1,"}, []string{name + ".h1," + name + ".h2", name + ".h1," + name + ".h10"}},
		{[]string{"partition", "--lab", name, "h10", "h"}, []string{"h1", "h2"}},
	} {
		if got, _ := complete(t, c.args...); !slices.Equal(got, c.want) {
			t.Errorf("__complete %v: %q, want %q", c.args, got, c.want)
		}
	}

	rows := func(out string, col int, keep func(string) bool) []string {
		var got []string
		for _, line := range strings.Split(out, "\n") {
			if f := strings.Fields(line); len(f) > col && keep(f[col]) {
				got = append(got, f[col])
			}
		}
		return got
	}
	isNode := func(s string) bool { return s == "h1" || s == "h2" || s == "h10" }
	r := nslab(t, "", "status", name)
	if got := rows(r.stdout, 1, isNode); !slices.Equal(got, []string{"h1", "h2", "h10"}) {
		t.Errorf("status lists nodes as %v, want h1 h2 h10:\n%s", got, r.stdout)
	}
	startIn(t, name+".h10")
	startIn(t, name+".h2")
	r = nslab(t, "", "ps", name)
	if got := rows(r.stdout, 1, isNode); !slices.Equal(got, []string{"h2", "h10"}) {
		t.Errorf("ps lists nodes as %v, want h2 h10:\n%s", got, r.stdout)
	}
	r = nslab(t, "", "check", name)
	if got := rows(r.stdout, 0, isNode); r.code != 0 || !slices.Equal(got, []string{"h1", "h2", "h10"}) {
		t.Errorf("check's rows are %v, want h1 h2 h10: code %d\n%s", got, r.code, r.stdout)
	}
}

// TestUpUnfinishedReplace: a lab whose last change did not finish is
// built anew by up, which ends every process in it: up asks for
// --replace first.
func TestUpUnfinishedReplace(t *testing.T) {
	subnet := nslabtest.Subnet(t)
	file, name := seedFile(t, subnet)
	if r := nslab(t, "", "up", "-q", file); r.code != 0 {
		t.Fatalf("up: %s", r.stderr)
	}
	sleeper := startIn(t, name+".ns1")
	// As a change killed part-way leaves it.
	if err := os.WriteFile("/run/nslab/"+name+"/building", nil, 0o644); err != nil {
		t.Fatal(err)
	}
	r := nslab(t, "", "up", file)
	for _, want := range []string{"did not finish", "node ns1,", "sleep 60", "nslab up --replace"} {
		if r.code != 1 || !strings.Contains(r.stderr, want) {
			t.Errorf("up of an unfinished lab with a process: code %d, stderr lacks %q:\n%s", r.code, want, r.stderr)
		}
	}
	if !running(sleeper) {
		t.Fatal("the refused up ended the process in ns1")
	}
	if r := nslab(t, "", "up", "--replace", file); r.code != 0 || !strings.Contains(r.stderr, "ended 1 process in ns1") {
		t.Errorf("up --replace: code %d\n%s", r.code, r.stderr)
	}
	if r := nslab(t, "", "check", name); r.code != 0 {
		t.Errorf("check after up --replace: code %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}
