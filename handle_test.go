package nslab_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nslab/nslab"
	"github.com/nslab/nslab/check"
	"github.com/nslab/nslab/nslabtest"
	"github.com/nslab/nslab/topology"
	"golang.org/x/sys/unix"
)

// pair is two nodes a and b on a bridge with no host side: the lab
// takes nothing of the host, so its addresses cannot clash.
func pair(t *testing.T) *topology.Lab {
	t.Helper()
	src := `name: lh-pair
bridges:
  sw: {}
nodes:
  a:
    interfaces:
      eth0: {link: sw, addresses: [10.1.0.1/24, fd01::1/64]}
  b:
    interfaces:
      eth0: {link: sw, addresses: [10.1.0.2/24, fd01::2/64]}
`
	topo, err := topology.Parse("pair.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	return topo
}

// TestNodeSockets: a listener made in node a and a connection dialled
// from node b by a's name talk, from goroutines of the test's own; the
// listener is in a's namespace (asked of the kernel: SIOCGSKNS).
func TestNodeSockets(t *testing.T) {
	t.Parallel()
	l := nslabtest.Start(t, pair(t))
	a, b := l.Node("a"), l.Node("b")
	ln, err := a.Listen("tcp", ":7000")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		line, _ := bufio.NewReader(c).ReadString('\n')
		fmt.Fprintf(c, "a got %s", line)
	}()
	for _, addr := range []string{"a:7000", "a." + l.Name() + ":7000", "eth0.a:7000", "[fd01::1]:7000"} {
		c, err := b.Dial("tcp", addr)
		if err != nil {
			t.Fatalf("dial %s from b: %v", addr, err)
		}
		if addr == "a:7000" {
			fmt.Fprintln(c, "hello")
			reply, _ := io.ReadAll(c)
			if string(reply) != "a got hello\n" {
				t.Errorf("reply %q", reply)
			}
			if got := c.LocalAddr().(*net.TCPAddr).IP.String(); got != "10.1.0.2" {
				t.Errorf("b dialled from %s, want 10.1.0.2", got)
			}
			if got, want := socketNetns(t, c.(*net.TCPConn)), netnsInode(t, b.Netns()); got != want {
				t.Errorf("the connection is in namespace %d, node b is %d", got, want)
			}
		}
		c.Close()
	}
	if got, want := socketNetns(t, ln.(*net.TCPListener)), netnsInode(t, a.Netns()); got != want {
		t.Errorf("the listener is in namespace %d, node a is %d", got, want)
	}
	// UDP, both ways, by name.
	pc, err := a.ListenPacket("udp", ":7001")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	uc, err := b.Dial("udp", "a:7001")
	if err != nil {
		t.Fatal(err)
	}
	defer uc.Close()
	uc.Write([]byte("ping"))
	pc.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 16)
	n, from, err := pc.ReadFrom(buf)
	if err != nil || string(buf[:n]) != "ping" || !strings.HasPrefix(from.String(), "10.1.0.2:") {
		t.Errorf("udp in a: %q from %v, %v", buf[:n], from, err)
	}
}

// TestDoAndDialer: Go code run by Do sees the node's interfaces; a
// Dialer with a local address dials from it.
func TestDoAndDialer(t *testing.T) {
	t.Parallel()
	l := nslabtest.Start(t, pair(t))
	var names []string
	err := l.Node("a").Do(func() error {
		ifs, err := net.Interfaces()
		for _, i := range ifs {
			names = append(names, i.Name)
		}
		return err
	})
	if err != nil || strings.Join(names, " ") != "lo eth0" {
		t.Errorf("interfaces seen in a: %v %v", names, err)
	}
	ln, err := l.Node("a").Listen("tcp", "a:7002")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		if c, err := ln.Accept(); err == nil {
			c.Close()
		}
	}()
	dial := l.Node("b").Dialer(&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("10.1.0.2"), Port: 40123}})
	c, err := dial(context.Background(), "tcp", "a:7002")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if got := c.LocalAddr().String(); got != "10.1.0.2:40123" {
		t.Errorf("dialled from %s", got)
	}
	if got := ln.Addr().String(); got != "10.1.0.1:7002" {
		t.Errorf("listening on %s, want a's first address", got)
	}
}

// TestNamesNeverAskTheMachine: a name the lab does not know is an
// error that names the hosts file, at once; so is a node the lab does
// not have.
func TestNamesNeverAskTheMachine(t *testing.T) {
	t.Parallel()
	l := nslabtest.Start(t, pair(t))
	start := time.Now()
	_, err := l.Node("b").Dial("tcp", "example.com:80")
	if err == nil || !strings.Contains(err.Error(), `no host "example.com" in /run/nslab/`+l.Name()+"/hosts") {
		t.Errorf("dial example.com: %v", err)
	}
	if d := time.Since(start); d > 100*time.Millisecond {
		t.Errorf("the failed look-up took %v", d)
	}
	ips, err := l.Node("a").Lookup("b")
	if err != nil || len(ips) != 2 || ips[0].String() != "10.1.0.2" || ips[1].String() != "fd01::2" {
		t.Errorf("lookup b: %v %v", ips, err)
	}
	_, err = l.Node("zz").Dial("tcp", "a:1")
	if err == nil || !strings.Contains(err.Error(), `has no node "zz" (nodes: a, b)`) {
		t.Errorf("dial from an unknown node: %v", err)
	}
}

// TestCommand: a command runs in the node with its hostname, the lab's
// hosts file and NSLAB_NODE; Output, CombinedOutput and Run work as
// exec.Cmd's; a command still running is ended by Close.
func TestCommand(t *testing.T) {
	t.Parallel()
	l := nslabtest.Start(t, pair(t))
	ctx := context.Background()
	a := l.Node("a")
	out, err := a.Command(ctx, "sh", "-c", "hostname; echo $NSLAB_NODE; grep -c 'eth0.b' /etc/hosts; cat /sys/class/net/eth0/address >/dev/null && echo sys").Output()
	if err != nil {
		t.Fatal(err)
	}
	if string(out) != "a\na\n2\nsys\n" {
		t.Errorf("in node a: %q", out)
	}
	out, err = l.Node("b").Command(ctx, "sh", "-c", "echo out; echo err >&2; exit 3").CombinedOutput()
	var ee *exec.ExitError
	if string(out) != "out\nerr\n" || !errors.As(err, &ee) || ee.ExitCode() != 3 {
		t.Errorf("combined output %q, %v", out, err)
	}
	_, err = a.Command(ctx, "sh", "-c", "echo oops >&2; exit 1").Output()
	if !errors.As(err, &ee) || string(ee.Stderr) != "oops\n" {
		t.Errorf("output's error %v", err)
	}
	if err := l.Node("x").Command(ctx, "true").Run(); err == nil || !strings.Contains(err.Error(), `no node "x"`) {
		t.Errorf("command in an unknown node: %v", err)
	}
	sleep := a.Command(ctx, "sleep", "60")
	if err := sleep.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- sleep.Wait() }()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
			t.Errorf("sleep ended with %v, want killed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("sleep still runs 5 s after Close")
	}
}

// TestStartRefusesARunningLab: a lab that runs already is not taken
// over (Close would remove it), and stays as it was.
func TestStartRefusesARunningLab(t *testing.T) {
	t.Parallel()
	l := nslabtest.Start(t, pair(t))
	again := *l.Topology()
	again.Source = pair(t).Source
	_, err := nslab.Start(context.Background(), &again, nslab.Options{})
	if err == nil || !strings.Contains(err.Error(), "lab "+l.Name()+" exists already") {
		t.Fatalf("a second Start of %s: %v", l.Name(), err)
	}
	if _, err := l.Node("a").Command(context.Background(), "true").Output(); err != nil {
		t.Errorf("the lab after the refused Start: %v", err)
	}
}

// TestClose: Close removes the lab, a second Close does nothing, and
// the handle refuses work after it.
func TestClose(t *testing.T) {
	t.Parallel()
	l := nslabtest.Start(t, pair(t))
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if left := nslabtest.Leftovers(l.Name()); len(left) > 0 {
		t.Errorf("after Close: %v", left)
	}
	if err := l.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := l.Node("a").Listen("tcp", ":1"); err == nil || !strings.Contains(err.Error(), "is closed") {
		t.Errorf("listen after Close: %v", err)
	}
	if err := l.Cut(context.Background(), "a", "eth0"); err == nil {
		t.Error("cut after Close worked")
	}
}

// TestFaults: a cut cable, a partition and a shape, each undone, seen
// by connections between nodes, by Check and by Status.
func TestFaults(t *testing.T) {
	t.Parallel()
	l := nslabtest.Start(t, pair(t))
	ctx := context.Background()
	a, b := l.Node("a"), l.Node("b")
	ln, err := a.Listen("tcp", ":7000")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	reach := func() error {
		ctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		defer cancel()
		c, err := b.DialContext(ctx, "tcp", "10.1.0.1:7000")
		if err == nil {
			c.Close()
		}
		return err
	}
	if err := reach(); err != nil {
		t.Fatal(err)
	}
	if err := l.Cut(ctx, "b", "eth0"); err != nil {
		t.Fatal(err)
	}
	if reach() == nil {
		t.Error("b reached a over a cut cable")
	}
	if err := l.Join(ctx, "b", "eth0"); err != nil {
		t.Fatal(err)
	}
	if err := reach(); err != nil {
		t.Errorf("after join: %v", err)
	}
	if err := l.Partition(ctx, []string{"a"}, []string{"b"}); err != nil {
		t.Fatal(err)
	}
	if reach() == nil {
		t.Error("b reached a across a partition")
	}
	if err := l.Heal(ctx); err != nil {
		t.Fatal(err)
	}
	if err := reach(); err != nil {
		t.Errorf("after heal: %v", err)
	}
	if err := l.Shape(ctx, "b", "eth0", &topology.Shape{Rate: 1_000_000}); err != nil {
		t.Fatal(err)
	}
	if out, _ := exec.Command("ip", "-n", b.Netns(), "link", "show", "eth0").Output(); !strings.Contains(string(out), "qdisc tbf") {
		t.Errorf("after Shape, b's eth0: %s", out)
	}
	m, err := l.MeasureShapes(ctx)
	if err != nil || len(m.Paths) != 1 || m.Failed != 0 || len(m.Paths[0].Ways) != 2 || m.Paths[0].Ways[0].Rate == 0 {
		t.Errorf("measuring the 1mbit cable: %v, %+v (%q)", err, m, m.Failures())
	} else {
		t.Logf("measured %s: %s -> %s %d bit/s, %s -> %s %d bit/s", m.Paths[0].Cable, m.Paths[0].Ways[0].From, m.Paths[0].Ways[0].To,
			m.Paths[0].Ways[0].Rate, m.Paths[0].Ways[1].From, m.Paths[0].Ways[1].To, m.Paths[0].Ways[1].Rate)
	}
	if err := l.Shape(ctx, "b", "eth0", nil); err != nil {
		t.Fatal(err)
	}
	if out, _ := exec.Command("ip", "-n", b.Netns(), "link", "show", "eth0").Output(); strings.Contains(string(out), "qdisc tbf") {
		t.Errorf("after Shape nil, b's eth0: %s", out)
	}
	if err := l.Shape(ctx, "b", "eth0", &topology.Shape{Rate: 10}); err == nil || !strings.Contains(err.Error(), "rate 10 bit/s is outside") {
		t.Errorf("a rate of 10 bit/s: %v", err)
	}
	rep, err := l.Check(ctx, check.Options{})
	if err != nil || rep.Failed != 0 {
		t.Errorf("check: %v, %+v", err, rep)
	}
	st, err := l.Status()
	if err != nil || len(st.Nodes) != 2 {
		t.Errorf("status: %v %+v", err, st)
	}
}

// TestApply: a node added by Apply is usable at once, and the sockets
// of the untouched nodes keep working.
func TestApply(t *testing.T) {
	t.Parallel()
	topo := pair(t)
	l := nslabtest.Start(t, topo)
	ln, err := l.Node("a").Listen("tcp", ":7000")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	src := string(topo.Source) + "  c:\n    interfaces:\n      eth0: {link: sw, addresses: [10.1.0.3/24]}\n"
	more, err := topology.Parse("pair.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Node("a").Lookup("c"); err == nil {
		t.Error("c is known before it is added")
	}
	if err := l.Apply(context.Background(), more); err != nil {
		t.Fatal(err)
	}
	if ips, err := l.Node("a").Lookup("c"); err != nil || len(ips) != 1 || ips[0].String() != "10.1.0.3" {
		t.Errorf("lookup of the new node c from a: %v %v", ips, err)
	}
	go func() {
		if c, err := ln.Accept(); err == nil {
			c.Close()
		}
	}()
	c, err := l.Node("c").Dial("tcp", "a:7000")
	if err != nil {
		t.Fatalf("dial from the new node c to the listener of a made before: %v", err)
	}
	c.Close()
	if out, err := l.Node("c").Command(context.Background(), "hostname").Output(); err != nil || string(out) != "c\n" {
		t.Errorf("hostname in c: %q %v", out, err)
	}
}

// socketNetns asks the kernel which network namespace a socket is in.
func socketNetns(t *testing.T, s syscall.Conn) uint64 {
	t.Helper()
	rc, err := s.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var ino uint64
	rc.Control(func(fd uintptr) {
		nsfd, err := unix.IoctlRetInt(int(fd), unix.SIOCGSKNS)
		if err != nil {
			t.Fatalf("SIOCGSKNS: %v", err)
		}
		defer unix.Close(nsfd)
		var st unix.Stat_t
		if err := unix.Fstat(nsfd, &st); err != nil {
			t.Fatal(err)
		}
		ino = st.Ino
	})
	return ino
}

func netnsInode(t *testing.T, name string) uint64 {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat("/run/netns/"+name, &st); err != nil {
		t.Fatal(err)
	}
	return st.Ino
}
