package simhost_test

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nslab/nslab/internal/simhost"
	"github.com/nslab/nslab/nslabtest"
)

// start makes a cluster of the named hosts for the test, closed at its
// end with a check that nothing of it is left.
func start(t *testing.T, names ...string) *simhost.Cluster {
	t.Helper()
	if err := simhost.Available(); err != nil {
		t.Skip(err)
	}
	sub := netip.MustParsePrefix(nslabtest.Subnet(t) + ".0/24")
	prefix := fmt.Sprintf("sh%d", os.Getpid()%100000)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	began := time.Now()
	c, err := simhost.Start(ctx, t.TempDir(), names, simhost.Options{Prefix: prefix, Subnet: sub})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d simulated hosts up in %v", len(names), time.Since(began).Round(time.Millisecond))
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Error(err)
		}
		out, _ := exec.Command("ip", "-o", "link", "show").Output()
		for _, l := range strings.Split(string(out), "\n") {
			if strings.Contains(l, " "+prefix+"-") {
				t.Errorf("left behind: %s", l)
			}
		}
		for _, h := range c.Hosts {
			if ps := h.Processes(); len(ps) > 0 {
				t.Errorf("host %s: processes left: %v", h.Name, ps)
			}
		}
	})
	return c
}

func run(t *testing.T, c *simhost.Cluster, host string, script string) string {
	t.Helper()
	out, err := c.Command(context.Background(), host, "sh", "-c", "'"+script+"'").CombinedOutput()
	if err != nil {
		t.Fatalf("ssh %s %s: %v\n%s", host, script, err, out)
	}
	return string(out)
}

// TestCluster: each simulated host answers ssh as root, has its own
// network namespace, /run and /sys, reaches the others over the underlay
// and nothing else, and leaves nothing when closed.
func TestCluster(t *testing.T) {
	c := start(t, "h1", "h2", "h3")
	self, _ := os.Readlink("/proc/self/ns/net")
	for _, h := range c.Hosts {
		got := strings.TrimSpace(run(t, c, h.Name, "readlink /proc/self/ns/net; echo $(ls /sys/class/net); ip -4 -o addr show dev eth0"))
		lines := strings.Split(got, "\n")
		if len(lines) != 3 {
			t.Fatalf("host %s: %q", h.Name, got)
		}
		if lines[0] == self {
			t.Errorf("host %s runs commands in the caller's network namespace %s", h.Name, self)
		}
		if strings.TrimSpace(lines[1]) != "eth0 lo" {
			t.Errorf("host %s: /sys/class/net shows %q, want its own eth0 and lo", h.Name, lines[1])
		}
		if !strings.Contains(lines[2], " "+h.Addr.String()+"/24 ") {
			t.Errorf("host %s: eth0 has %q, want %s", h.Name, lines[2], h.Addr)
		}
		if r := strings.TrimSpace(run(t, c, h.Name, "ip route show default; ip -6 route show default")); r != "" {
			t.Errorf("host %s has a default route: %q (a simulated host reaches the underlay only)", h.Name, r)
		}
	}

	// Its own home for root: a session does not run the machine's
	// root's start-up files (a pyenv init there took seconds a session,
	// and its lock, left by a killed session, a minute).
	if home := strings.TrimSpace(run(t, c, "h1", "ls -A /root")); home != "" {
		t.Errorf("h1's /root holds %q, want a home of its own, empty", home)
	}

	// Its own /run: a namespace named on h1 is not seen on h2 or by the caller.
	name := fmt.Sprintf("simt%d", os.Getpid())
	run(t, c, "h1", "ip netns add "+name)
	if l := run(t, c, "h1", "ip netns list"); !strings.Contains(l, name) {
		t.Errorf("h1 does not list its namespace %s: %q", name, l)
	}
	if l := run(t, c, "h2", "ip netns list"); strings.Contains(l, name) {
		t.Errorf("h2 sees h1's namespace: %q", l)
	}
	if _, err := os.Stat("/run/netns/" + name); err == nil {
		t.Errorf("h1's namespace %s is named in the caller's /run/netns", name)
	}

	// The underlay carries the hosts to each other and to the bridge.
	h2 := c.Host("h2").Addr
	run(t, c, "h1", fmt.Sprintf("timeout 5 bash -c \"exec 3<>/dev/tcp/%s/22\"", h2))

	// Each ssh without a shared connection is one login.
	before := c.Host("h3").Logins()
	run(t, c, "h3", "true")
	run(t, c, "h3", "true")
	if got := c.Host("h3").Logins() - before; got != 2 {
		t.Errorf("h3 counted %d logins for two ssh runs", got)
	}
}

// TestChildLeavesACluster is run by TestDeadOwnersClusterIsRemoved in a
// child process that dies (SIGKILL) with its cluster up and a session's
// process running on a host, as a test killed by go test's timeout does.
func TestChildLeavesACluster(t *testing.T) {
	if os.Getenv("SIMHOST_TEST_DIE") == "" {
		t.Skip("run by TestDeadOwnersClusterIsRemoved")
	}
	if err := simhost.Available(); err != nil {
		t.Skip(err)
	}
	sub := netip.MustParsePrefix(nslabtest.Subnet(t) + ".0/24")
	prefix := fmt.Sprintf("sd%d", os.Getpid()%100000)
	c, err := simhost.Start(context.Background(), t.TempDir(), []string{"h1", "h2"}, simhost.Options{Prefix: prefix, Subnet: sub})
	if err != nil {
		t.Fatal(err)
	}
	run(t, c, "h1", "setsid sleep 600 </dev/null >/dev/null 2>&1 &")
	ns, _ := os.Readlink(c.Host("h1").NetNS())
	fmt.Printf("cluster %s %s\n", c.Bridge, ns)
	syscall.Kill(os.Getpid(), syscall.SIGKILL)
}

// TestDeadOwnersClusterIsRemoved: the simulated hosts of a process that
// died without closing them (its bridge, the hosts' sshd and what their
// sessions left running) are removed by the next Start.
func TestDeadOwnersClusterIsRemoved(t *testing.T) {
	if err := simhost.Available(); err != nil {
		t.Skip(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestChildLeavesACluster$", "-test.count=1")
	cmd.Env = append(os.Environ(), "SIMHOST_TEST_DIE=1")
	out, _ := cmd.Output()
	var bridge, hostNet string
	for _, l := range strings.Split(string(out), "\n") {
		if f := strings.Fields(l); len(f) == 3 && f[0] == "cluster" {
			bridge, hostNet = f[1], f[2]
		}
	}
	if bridge == "" {
		t.Fatalf("the child said no cluster:\n%s", out)
	}
	// What the child left: its bridge, and the processes in its host's
	// network namespace (by pid: once the namespace is gone, its inode
	// may be another's, such as a host of the next Start).
	bridgeLeft := func() bool {
		_, err := os.Stat("/sys/class/net/" + bridge)
		return err == nil
	}
	var pids []string
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		if l, err := os.Readlink("/proc/" + e.Name() + "/ns/net"); err == nil && l == hostNet {
			comm, _ := os.ReadFile("/proc/" + e.Name() + "/comm")
			pids = append(pids, e.Name()+" "+strings.TrimSpace(string(comm)))
		}
	}
	if !bridgeLeft() && len(pids) == 0 {
		t.Fatal("the dead child left nothing to remove")
	}
	t.Logf("left by the dead child: bridge %s (%v), processes %v", bridge, bridgeLeft(), pids)
	t.Cleanup(func() { simhost.ReapDead() }) // when the check below fails
	start(t, "h1")
	if bridgeLeft() {
		t.Errorf("after the next Start: bridge %s", bridge)
	}
	for _, p := range pids {
		pid, _, _ := strings.Cut(p, " ")
		if l, err := os.Readlink("/proc/" + pid + "/ns/net"); err == nil && l == hostNet {
			t.Errorf("after the next Start: process %s", p)
		}
	}
}
