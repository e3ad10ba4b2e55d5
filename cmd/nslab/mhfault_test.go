package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nslab/nslab/kernel"
	"github.com/nslab/nslab/nslabtest"
)

// TestFaultsAcrossHosts: every fault command run on the machine that
// brought up a lab across two simulated machines goes to the hosts that
// hold the parts: a cut of the cable a(h1) -- b(h2) stops pings both ways
// and check counts them as expected, join restores it; a partition
// {a, x} | {b, c, y} holds both ways across the tunnels (routed and on a
// bridge spanning the machines) and heals; a block x -> y drops x's
// datagrams to y and lets y's to x pass; a runtime shape on the cable
// between machines slows a TCP transfer over it; shell runs a shell on the
// node's host through a terminal there.
func TestFaultsAcrossHosts(t *testing.T) {
	if err := kernel.QdiscSupported("tbf"); err != nil {
		t.Skipf("this kernel has no tbf qdisc (sch_tbf): %v", err)
	}
	c := startHosts(t, "h1", "h2")
	name := nslabtest.Name("mf")
	file := filepath.Join(t.TempDir(), name+".yaml")
	src := fmt.Sprintf(`name: %s
hosts:
  h1: {ssh: h1, address: %s}
  h2: {ssh: h2, address: %s}
routing: auto
addressing: {pool: [10.79.0.0/16]}
bridges:
  lan: {}
nodes:
  a: {host: h1, interfaces: {eth0: {link: b:eth0}}}
  b: {host: h2, router: true, interfaces: {eth0: {}, eth1: {link: c:eth0}}}
  c: {host: h2, interfaces: {eth0: {}}}
  x: {host: h1, interfaces: {eth0: {link: lan}}}
  y: {host: h2, interfaces: {eth0: {link: lan}}}
`, name, c.Host("h1").Addr, c.Host("h2").Addr)
	if err := os.WriteFile(file, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	env := append(os.Environ(), "NSLAB_SSH_CONFIG="+c.Config)
	run := func(args ...string) result {
		cmd := exec.Command(bin, args...)
		cmd.Env = env
		return runCmd(t, cmd, "", args)
	}
	must := func(args ...string) string {
		t.Helper()
		r := run(args...)
		if r.code != 0 {
			t.Fatalf("nslab %s: exit %d\n%s%s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
		}
		return r.stdout
	}
	t.Cleanup(func() {
		if r := run("down", "-q", name); r.code != 0 {
			os.Remove(filepath.Join("/run/nslab/.fleet", name+".json"))
			os.Remove(filepath.Join("/run/nslab/.fleet", name+".faults"))
		}
	})
	must("up", "-q", file)
	// Traffic is sent and looked at from within the hosts (entered
	// directly, not over ssh: a session costs seconds on a loaded
	// machine); the faults are made from here.
	hostOf := map[string]string{"a": "h1", "x": "h1", "b": "h2", "c": "h2", "y": "h2"}
	inHost := func(host string, args ...string) *exec.Cmd {
		return exec.Command("nsenter", append([]string{"-t", strconv.Itoa(c.Host(host).Pid), "-n", "-m", "--"}, args...)...)
	}
	inNode := func(node string, args ...string) *exec.Cmd {
		return inHost(hostOf[node], append([]string{bin, "exec", name + "." + node, "--"}, args...)...)
	}
	// The addresses as up chose them, read on the nodes' hosts.
	addr := func(node string) string {
		o, err := inHost(hostOf[node], "ip", "-n", name+"."+node, "-4", "-o", "addr", "show", "dev", "eth0").CombinedOutput()
		out := string(o)
		f := strings.Fields(out)
		if err != nil || len(f) < 4 {
			t.Fatalf("address of %s: %v\n%s", node, err, out)
		}
		return strings.Split(f[3], "/")[0]
	}
	ip := map[string]string{}
	for _, n := range []string{"a", "b", "c", "x", "y"} {
		ip[n] = addr(n)
	}
	// ping reports whether from reaches to (two tries of two echoes: the
	// neighbour table is shared with other labs on the machine).
	ping := func(from, to string) bool {
		for try := 0; try < 2; try++ {
			if inNode(from, "ping", "-c", "2", "-W", "2", ip[to]).Run() == nil {
				return true
			}
		}
		return false
	}
	reach := func(when string, want bool, pairs ...string) {
		t.Helper()
		for _, p := range pairs {
			from, to, _ := strings.Cut(p, ">")
			if got := ping(from, to); got != want {
				t.Errorf("%s: %s reaches %s: %v, want %v", when, from, to, got, want)
			}
		}
	}
	checkFaulted := func(when string, min int) {
		t.Helper()
		r := run("check", "-o", "json", name)
		var rep struct{ Passed, Failed, Faulted int }
		if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil || r.code != 0 || rep.Failed != 0 || rep.Faulted < min {
			t.Errorf("%s: check: exit %d, %d passed, %d failed, %d faulted (want 0 failed, %d faulted or more): %v\n%s%s", when, r.code, rep.Passed, rep.Failed, rep.Faulted, min, err, r.stdout, r.stderr)
		}
		t.Logf("%s: check: %d passed, %d expected not to answer", when, rep.Passed, rep.Faulted)
	}
	reach("up", true, "a>c", "c>a", "x>y")
	// exec from here, on the node's host, keeps stdin and the exit status.
	if r := runCmd(t, withEnv(exec.Command(bin, "exec", name+".c", "--", "sh", "-c", "read v; echo got $v; exit 5"), env), "it\n", nil); r.code != 5 || r.stdout != "got it\n" {
		t.Errorf("exec in c (on h2) from here: exit %d, %q, want 5 and \"got it\"\n%s", r.code, r.stdout, r.stderr)
	}

	// A cable between the machines, cut from here: both ends lose their
	// carrier, nothing crosses either way, check expects it.
	if out := must("link", "down", name+".a:eth0"); out != "cable of "+name+".a:eth0 cut\n" {
		t.Errorf("link down: %q", out)
	}
	reach("a:eth0 cut", false, "a>b", "b>a", "c>a")
	reach("a:eth0 cut", true, "x>y")
	for h, end := range map[string]string{"h1": "a", "h2": "b"} {
		if out, _ := inHost(h, "ip", "-n", name+"."+end, "-o", "link", "show", "eth0").CombinedOutput(); !strings.Contains(string(out), "NO-CARRIER") {
			t.Errorf("a:eth0 cut: %s:eth0 on %s has its carrier: %s", end, h, out)
		}
	}
	checkFaulted("a:eth0 cut", 4)
	st := must("status", name)
	if !strings.Contains(st, "faults in force (made from here): cut a:eth0") || !strings.Contains(st, "cut b:eth0") {
		t.Errorf("status with a:eth0 cut names neither the cut nor its far end on h2:\n%s", st)
	}
	must("link", "up", name+".a:eth0")
	reach("a:eth0 joined", true, "a>c", "c>a")

	// A partition across the machines holds both ways, routed and on the
	// bridge between them; heal takes it away everywhere.
	if out := must("partition", "--lab", name, "a,x", "b,c,y"); !strings.Contains(out, "{a, x} | {b, c, y}") {
		t.Errorf("partition: %q", out)
	}
	reach("partitioned", false, "a>c", "c>a", "x>y", "y>x", "a>b")
	reach("partitioned", true, "b>c")
	if out := must("heal", name); out != "lab "+name+" healed\n" {
		t.Errorf("heal: %q", out)
	}
	reach("healed", true, "a>c", "y>x")
	if _, err := os.Stat(filepath.Join("/run/nslab/.fleet", name+".faults")); err == nil {
		t.Errorf("the record of faults is left after heal")
	}

	// One way: x's datagrams to y are dropped, y's to x arrive.
	must("block", "--lab", name, "x", "y")
	xy, yx := udpAcross(t, inNode, "x", "y", ip["y"]), udpAcross(t, inNode, "y", "x", ip["x"])
	t.Logf("block x -> y: %d of 50 datagrams x -> y arrived, %d of 50 y -> x", xy, yx)
	if xy != 0 || yx < 45 {
		t.Errorf("block x -> y: %d of 50 datagrams x -> y arrived (want 0), %d of 50 y -> x (want 45 or more)", xy, yx)
	}

	// A shape on the cable between the machines, set from here, slows a
	// transfer over it (the block holds beside it: one heal takes both).
	before := tcpAcross(t, inNode, "a", "b", ip["b"])
	must("link", "shape", name+".a:eth0", "--rate", "4mbit")
	shaped := tcpAcross(t, inNode, "a", "b", ip["b"])
	t.Logf("512 KiB a -> b over the cable between machines: %v unshaped, %v at 4mbit", before, shaped)
	if shaped < 800*time.Millisecond || before*3 > shaped {
		t.Errorf("512 KiB a -> b: %v unshaped, %v shaped at 4mbit: want 0.8 s or more and 3 times the unshaped", before, shaped)
	}
	must("heal", name)

	// A flap from here: a schedule whose steps go to both hosts, then
	// reverted.
	fl := must("link", "flap", name+".a:eth0", "--period", "2s", "--down", "1s", "--for", "2s")
	var steps []string
	for _, line := range strings.Split(strings.TrimSpace(fl), "\n") {
		var ev struct{ Step, Error string }
		if err := json.Unmarshal([]byte(line), &ev); err != nil || ev.Error != "" {
			t.Errorf("flap: %q: %v %s", line, err, ev.Error)
		}
		steps = append(steps, ev.Step)
	}
	if got := strings.Join(steps, ", "); got != "cut a:eth0, join a:eth0, revert" {
		t.Errorf("flap a:eth0 from here: steps %s, want cut, join, revert", got)
	}
	reach("after the flap", true, "a>c")

	// A shell on the node's host, through a terminal there.
	sh := exec.Command("script", "-qec", bin+" shell "+name+".c", "/dev/null")
	sh.Env = env
	sh.Stdin = strings.NewReader("echo answer=$((6*7)); tty; exit 3\n")
	out, err := sh.CombinedOutput()
	if code := sh.ProcessState.ExitCode(); code != 3 || !strings.Contains(string(out), "answer=42") || !strings.Contains(string(out), "/dev/pts/") || !strings.Contains(string(out), "["+name+".c]") {
		t.Errorf("shell in c (on h2) through a terminal: exit %d (%v), want 3, a prompt [%s.c], answer=42 and a tty:\n%s", code, err, name, out)
	}

	must("down", name)
	for _, h := range []string{"h1", "h2"} {
		if out, err := inHost(h, "sh", "-c", "ip netns list; ip -o link show type vxlan; ls /run/nslab 2>/dev/null | grep -v '^\\.' || true").CombinedOutput(); err != nil || strings.TrimSpace(string(out)) != "" {
			t.Errorf("%s after down: %v\n%s", h, err, out)
		}
	}
	if _, err := os.Stat(filepath.Join("/run/nslab/.fleet", name+".faults")); err == nil {
		t.Errorf("the record of faults is left after down")
	}
}

// udpAcross sends 50 datagrams from one node of a lab across machines to
// addr in another, within their hosts, and returns how many arrived.
func udpAcross(t *testing.T, inNode func(string, ...string) *exec.Cmd, from, to, addr string) int {
	t.Helper()
	recv := inNode(to, "python3", "-c", `
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", 9999))
print("ready", flush=True)
s.settimeout(10)
n = 0
try:
    while True:
        s.recv(100)
        n += 1
        s.settimeout(1.5)
except OSError:
    pass
print(n, flush=True)
`)
	lines := startReady(t, recv, "udp receiver in "+to)
	defer recv.Wait()
	if out, err := inNode(from, "python3", "-c", fmt.Sprintf(`
import socket, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for i in range(50):
    s.sendto(b"x", (%q, 9999))
    time.sleep(0.01)
`, addr)).CombinedOutput(); err != nil {
		t.Fatalf("udp sender in %s: %v\n%s", from, err, out)
	}
	if !lines.Scan() {
		t.Fatalf("udp receiver in %s said nothing", to)
	}
	n, err := strconv.Atoi(lines.Text())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// startReady starts cmd and waits for it to print "ready".
func startReady(t *testing.T, cmd *exec.Cmd, what string) *bufio.Scanner {
	t.Helper()
	pipe, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := bufio.NewScanner(pipe)
	if !lines.Scan() || lines.Text() != "ready" {
		cmd.Process.Kill()
		t.Fatalf("%s did not start: %q", what, lines.Text())
	}
	return lines
}

// tcpAcross sends 512 KiB over TCP from one node of a lab across machines
// to addr in another and returns how long the receiver took from the
// connection to the end of the stream.
func tcpAcross(t *testing.T, inNode func(string, ...string) *exec.Cmd, from, to, addr string) time.Duration {
	t.Helper()
	recv := inNode(to, "python3", "-c", `
import socket, time
l = socket.socket()
l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(("0.0.0.0", 9998))
l.listen(1)
l.settimeout(30)
print("ready", flush=True)
c, _ = l.accept()
start, n = time.monotonic(), 0
while True:
    b = c.recv(65536)
    if not b:
        break
    n += len(b)
print(n, time.monotonic() - start, flush=True)
`)
	lines := startReady(t, recv, "tcp receiver in "+to)
	defer recv.Wait()
	if out, err := inNode(from, "python3", "-c", fmt.Sprintf(`
import socket
s = socket.create_connection((%q, 9998), timeout=20)
s.sendall(b"x" * 524288)
s.close()
`, addr)).CombinedOutput(); err != nil {
		t.Fatalf("tcp sender in %s: %v\n%s", from, err, out)
	}
	if !lines.Scan() {
		t.Fatalf("tcp receiver in %s said nothing", to)
	}
	f := strings.Fields(lines.Text())
	if len(f) != 2 || f[0] != "524288" {
		t.Fatalf("tcp receiver in %s: %q, want 524288 bytes and a time", to, lines.Text())
	}
	secs, err := strconv.ParseFloat(f[1], 64)
	if err != nil {
		t.Fatal(err)
	}
	return time.Duration(secs * float64(time.Second))
}

func withEnv(cmd *exec.Cmd, env []string) *exec.Cmd {
	cmd.Env = env
	return cmd
}
