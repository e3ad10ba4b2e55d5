package lab_test

import (
	"bufio"
	"cmp"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/nftables"
	"github.com/nslab/nslab/kernel"
	"github.com/nslab/nslab/lab"
	"github.com/nslab/nslab/nslabtest"
	"github.com/nslab/nslab/plan"
	"github.com/nslab/nslab/topology"
)

// needNftables skips a test on a kernel without nf_tables.
func needNftables(t *testing.T) {
	t.Helper()
	if _, err := kernel.NftTables(); err != nil {
		t.Skipf("needs nf_tables in the kernel (NAT, published ports, isolation): %v", err)
	}
}

// outside builds a namespace that plays the outside world, wired to the
// host by a veth of the test's own: the host has SUB.1, the outside SUB.2
// with a default route back. Traffic never leaves the machine.
func outside(t *testing.T) (ns, hostIf, sub string) {
	t.Helper()
	sub = nslabtest.Subnet(t)
	ns = fmt.Sprintf("nslt-out-%d", os.Getpid())
	hostIf = fmt.Sprintf("nslto%d", os.Getpid()%100000)
	nslabtest.Netns(t, ns)
	t.Cleanup(func() { exec.Command("ip", "link", "delete", hostIf).Run() })
	nslabtest.IP(t, "link", "add", hostIf, "type", "veth", "peer", "name", "eth0", "netns", ns)
	nslabtest.IP(t, "addr", "add", sub+".1/24", "dev", hostIf)
	nslabtest.IP(t, "link", "set", hostIf, "up")
	nslabtest.IP(t, "-n", ns, "link", "set", "lo", "up")
	nslabtest.IP(t, "-n", ns, "addr", "add", sub+".2/24", "dev", "eth0")
	nslabtest.IP(t, "-n", ns, "link", "set", "eth0", "up")
	nslabtest.IP(t, "-n", ns, "route", "add", "default", "via", sub+".1")
	// The outside's replies reach the lab only if the host forwards what
	// comes in on this veth (the machine's own interfaces are left alone).
	if err := os.WriteFile("/proc/sys/net/ipv4/conf/"+hostIf+"/forwarding", []byte("1"), 0o644); err != nil {
		t.Fatal(err)
	}
	return ns, hostIf, sub
}

// serveIn runs a TCP server in a namespace that answers each connection
// with its remote address (or banner, when set), until the test ends.
func serveIn(t *testing.T, nsPath, addr, banner string) {
	t.Helper()
	var ln net.Listener
	err := kernel.Do(nsPath, func() (err error) {
		ln, err = net.Listen("tcp", addr)
		return err
	})
	if err != nil {
		t.Fatalf("listening on %s in %s: %v", addr, nsPath, err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			msg := banner
			if msg == "" {
				msg = c.RemoteAddr().(*net.TCPAddr).IP.String()
			}
			fmt.Fprintln(c, msg)
			c.Close()
		}
	}()
}

// dialIn connects from a namespace ("" for the host) and returns the
// line the server sends, or the error.
func dialIn(nsPath, addr string) (string, error) {
	var c net.Conn
	dial := func() (err error) {
		c, err = net.DialTimeout("tcp", addr, 700*time.Millisecond)
		return err
	}
	var err error
	if nsPath == "" {
		err = dial()
	} else {
		err = kernel.Do(nsPath, dial)
	}
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil && err != io.EOF {
		return "", err
	}
	return strings.TrimSpace(line), nil
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// gatewayLab is one node n1 behind a gateway bridge of its own subnet;
// extra goes into the bridge's mapping, publish into n1's.
func gatewayLab(t *testing.T, extra, publish string) (*topology.Lab, string) {
	t.Helper()
	sub := nslabtest.Subnet(t)
	tl := up(t, fmt.Sprintf(`routing: auto
bridges:
  lan: {subnets: [%s.0/24], gateway: true%s}
nodes:
  n1:
    publish: [%s]
    interfaces:
      eth0: {link: lan}
`, sub, extra, publish))
	return tl, sub
}

// TestNATPublishIsolation: a lab with nat: true reaches a simulated
// outside, which sees the host's address as the source; a published port
// of a node answers on localhost and the lab's host address, not on the
// host's other addresses nor from the outside; and two
// labs reach neither each other nor each other's host addresses.
func TestNATPublishIsolation(t *testing.T) {
	nslabtest.RequireRoot(t)
	needNftables(t)
	outNS, _, outSub := outside(t)
	serveIn(t, kernel.NetnsPath(outNS), outSub+".2:7000", "")

	port := freePort(t)
	a, aSub := gatewayLab(t, ", nat: true", fmt.Sprintf(`"%d:8080"`, port))
	aN1 := kernel.NetnsPath(a.Name + ".n1")
	serveIn(t, aN1, ":8080", "hello from n1")

	// NAT: the outside sees the host's address on its cable.
	if got, err := dialIn(aN1, outSub+".2:7000"); err != nil || got != outSub+".1" {
		t.Errorf("n1 -> outside: source seen %q, %v; want the host's %s.1 (masqueraded)", got, err, outSub)
	}
	// Published: from the host, on localhost and on the lab's own host
	// address; not on the host's other addresses, nor from the outside.
	for _, addr := range []string{"127.0.0.1", aSub + ".1"} {
		if got, err := dialIn("", fmt.Sprintf("%s:%d", addr, port)); err != nil || got != "hello from n1" {
			t.Errorf("host -> %s:%d: %q, %v; want n1's banner", addr, port, got, err)
		}
	}
	if got, err := dialIn("", fmt.Sprintf("%s.1:%d", outSub, port)); err == nil {
		t.Errorf("host -> %s.1:%d (not the lab's address) answered %q; a port is published on loopback and the lab's addresses only", outSub, port, got)
	}
	if got, err := dialIn(kernel.NetnsPath(outNS), fmt.Sprintf("%s.1:%d", outSub, port)); err == nil {
		t.Errorf("outside -> host:%d answered %q; the port is not published on the host's other addresses", port, got)
	}

	// A second lab, masquerading too, so that the host forwards for both
	// and only the labs' tables keep them apart; a third without NAT.
	b, bSub := gatewayLab(t, ", nat: true", "")
	bN1 := kernel.NetnsPath(b.Name + ".n1")
	serveIn(t, bN1, ":8080", "hello from b")
	if got, err := dialIn(bN1, outSub+".2:7000"); err != nil || got != outSub+".1" {
		t.Errorf("b's n1 -> outside: %q, %v; the host must forward for b too, or the test proves nothing", got, err)
	}
	c, cSub := gatewayLab(t, "", "")
	cN1 := kernel.NetnsPath(c.Name + ".n1")
	// Services of the host, on each lab's host address and the outside's.
	hostPort := freePort(t)
	for _, a := range []string{aSub, bSub, cSub, outSub} {
		serveIn(t, "", fmt.Sprintf("%s.1:%d", a, hostPort), "the host")
	}
	if got, err := dialIn(cN1, fmt.Sprintf("%s.1:%d", cSub, hostPort)); err != nil || got != "the host" {
		t.Errorf("lab c cannot reach its own host address: %q, %v", got, err)
	}
	for _, tc := range []struct {
		from, to, why string
	}{
		{aN1, bSub + ".2:8080", "lab a reaches lab b's node"},
		{bN1, aSub + ".2:8080", "lab b reaches lab a's node"},
		{aN1, fmt.Sprintf("%s.1:%d", bSub, hostPort), "lab a reaches lab b's host address"},
		{cN1, outSub + ".2:7000", "lab c, without nat, reaches the outside"},
		{cN1, fmt.Sprintf("%s.1:%d", outSub, hostPort), "lab c reaches a host address that is not its own"},
		{cN1, aSub + ".2:8080", "lab c reaches lab a's node"},
	} {
		if got, err := dialIn(tc.from, tc.to); err == nil {
			t.Errorf("%s (%s answered %q)", tc.why, tc.to, got)
		}
	}

	// down takes the tables with it.
	for _, l := range []*topology.Lab{a, b, c} {
		if err := lab.Down(context.Background(), l.Name, lab.Options{}); err != nil {
			t.Fatal(err)
		}
	}
	tables, err := kernel.NftTables()
	if err != nil || tables[a.Name] || tables[b.Name] || tables[c.Name] {
		t.Errorf("nftables tables after down: %v, %v", tables, err)
	}
}

// TestPublishOnNamedAddresses: 0.0.0.0:HOSTPORT:PORT answers on every
// IPv4 address of the host, the outside's side included; IP:HOSTPORT:PORT
// on that address only; the default form answers on the lab's IPv6 host
// address too, not on ::1 (IPv6 does not route from ::1).
func TestPublishOnNamedAddresses(t *testing.T) {
	nslabtest.RequireRoot(t)
	needNftables(t)
	outNS, _, outSub := outside(t)
	all, named, dflt := freePort(t), freePort(t), freePort(t)
	sub := nslabtest.Subnet(t)
	v6 := "fd10:" + strings.ReplaceAll(strings.TrimPrefix(sub, "10."), ".", ":") + "::"
	tl := up(t, fmt.Sprintf(`routing: auto
bridges:
  lan: {subnets: [%s.0/24, %s/64], gateway: true}
nodes:
  n1:
    publish: ["0.0.0.0:%d:8080", "%s.1:%d:8080", "%d:8080"]
    interfaces:
      eth0: {link: lan}
`, sub, v6, all, outSub, named, dflt))
	n1 := kernel.NetnsPath(tl.Name + ".n1")
	serveIn(t, n1, ":8080", "hello from n1")
	for _, tc := range []struct {
		from, to string
		ok       bool
	}{
		{"", fmt.Sprintf("127.0.0.1:%d", all), true},
		{"", fmt.Sprintf("%s.1:%d", outSub, all), true},
		{kernel.NetnsPath(outNS), fmt.Sprintf("%s.1:%d", outSub, all), true},
		{"", fmt.Sprintf("[%s1]:%d", v6, all), false},
		{kernel.NetnsPath(outNS), fmt.Sprintf("%s.1:%d", outSub, named), true},
		{"", fmt.Sprintf("127.0.0.1:%d", named), false},
		{"", fmt.Sprintf("%s.1:%d", sub, named), false},
		{"", fmt.Sprintf("[::1]:%d", dflt), false},
		{"", fmt.Sprintf("[%s1]:%d", v6, dflt), true},
		{"", fmt.Sprintf("%s.1:%d", outSub, dflt), false},
	} {
		got, err := dialIn(tc.from, tc.to)
		if tc.ok && err != nil {
			got, err = dialRetry(tc.from, tc.to)
		}
		if tc.ok && (err != nil || got != "hello from n1") {
			t.Errorf("%s -> %s: %q, %v; want n1's banner", cmp.Or(tc.from, "host"), tc.to, got, err)
		}
		if !tc.ok && err == nil {
			t.Errorf("%s -> %s answered %q; it is not published there", cmp.Or(tc.from, "host"), tc.to, got)
		}
	}
}

// TestPublishUDP: a published UDP port answers from localhost.
func TestPublishUDP(t *testing.T) {
	nslabtest.RequireRoot(t)
	needNftables(t)
	port := freePort(t)
	tl, _ := gatewayLab(t, "", fmt.Sprintf(`"%d:5353/udp"`, port))
	var pc net.PacketConn
	if err := kernel.Do(kernel.NetnsPath(tl.Name+".n1"), func() (err error) {
		pc, err = net.ListenPacket("udp", ":5353")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 64)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			pc.WriteTo(append([]byte("pong "), buf[:n]...), from)
		}
	}()
	c, err := net.Dial("udp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Second))
	c.Write([]byte("ping"))
	buf := make([]byte, 64)
	n, err := c.Read(buf)
	if err != nil || string(buf[:n]) != "pong ping" {
		t.Errorf("UDP to the published port: %q, %v", buf[:n], err)
	}
}

// TestNAT6: nat6 masquerades IPv6 too, on a kernel that can forward IPv6
// on one interface (force_forwarding, Linux 6.17); the host's own
// interfaces are left alone.
func TestNAT6(t *testing.T) {
	nslabtest.RequireRoot(t)
	needNftables(t)
	outNS, hostIf, _ := outside(t)
	if _, err := os.Stat("/proc/sys/net/ipv6/conf/all/force_forwarding"); err != nil {
		t.Skip("needs net.ipv6.conf.*.force_forwarding (Linux 6.17) to forward IPv6 on one interface only")
	}
	v6 := "fd10:" + strings.ReplaceAll(strings.TrimPrefix(nslabtest.Subnet(t), "10."), ".", ":")
	nslabtest.IP(t, "addr", "add", v6+"::1/64", "dev", hostIf, "nodad")
	nslabtest.IP(t, "-n", outNS, "addr", "add", v6+"::2/64", "dev", "eth0", "nodad")
	nslabtest.IP(t, "-n", outNS, "-6", "route", "add", "default", "via", v6+"::1")
	if err := os.WriteFile("/proc/sys/net/ipv6/conf/"+hostIf+"/force_forwarding", []byte("1"), 0o644); err != nil {
		t.Fatal(err)
	}
	serveIn(t, kernel.NetnsPath(outNS), "["+v6+"::2]:7000", "")
	lan := "fd10:" + strings.ReplaceAll(strings.TrimPrefix(nslabtest.Subnet(t), "10."), ".", ":") + "::/64"
	tl := up(t, fmt.Sprintf("routing: auto\nbridges:\n  lan: {subnets: [%s], gateway: true, nat6: true}\nnodes:\n  n1: {interfaces: {eth0: {link: lan}}}\n", lan))
	got, err := dialIn(kernel.NetnsPath(tl.Name+".n1"), "["+v6+"::2]:7000")
	if err != nil || got != v6+"::1" {
		t.Errorf("n1 -> outside over IPv6: source seen %q, %v; want the host's %s::1 (masqueraded)", got, err, v6)
	}
}

// TestForeignNftTables: a table that has the lab's table name but not
// nslab's mark stops up and survives; other tables survive up and down.
func TestForeignNftTables(t *testing.T) {
	nslabtest.RequireRoot(t)
	needNftables(t)
	tl := parse(t, seed(t))
	c, err := nftables.New()
	if err != nil {
		t.Fatal(err)
	}
	same := &nftables.Table{Name: kernel.TableName(tl.Name), Family: nftables.TableFamilyINet}
	other := &nftables.Table{Name: nslabtest.TestTable(tl.Name), Family: nftables.TableFamilyINet}
	nslabtest.NftTable(t, same)
	nslabtest.NftTable(t, other)
	c.AddChain(&nftables.Chain{Name: "mine", Table: other})
	if err := c.Flush(); err != nil {
		t.Fatal(err)
	}
	err = lab.Up(context.Background(), tl, sources[tl], lab.Options{})
	if err == nil || !strings.Contains(err.Error(), "not nslab's") {
		t.Errorf("up over a foreign table of the lab's name: %v", err)
	}
	held := "nftables table inet " + other.Name
	nslabtest.CheckLeaks(t, tl.Name, held)
	c.DelTable(same)
	if err := c.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := lab.Up(context.Background(), tl, sources[tl], lab.Options{}); err != nil {
		t.Fatal(err)
	}
	if err := lab.Down(context.Background(), tl.Name, lab.Options{}); err != nil {
		t.Fatal(err)
	}
	tables, err := c.ListTablesOfFamily(nftables.TableFamilyINet)
	if err != nil || !slices.ContainsFunc(tables, func(x *nftables.Table) bool { return x.Name == other.Name }) {
		t.Errorf("the foreign table %s did not survive up and down: %v", other.Name, err)
	}
	nslabtest.CheckLeaks(t, tl.Name, held)
}

// needNft skips a test when the nft command is missing (.ci/run installs
// the nftables package).
func needNft(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("nft"); err != nil {
		t.Skip("needs the nft command to read the ruleset back (apt-get install nftables)")
	}
}

// TestNftShowsLinkNames: nft lists the lab's set of links with the
// interface names, not as "".
func TestNftShowsLinkNames(t *testing.T) {
	nslabtest.RequireRoot(t)
	needNftables(t)
	needNft(t)
	tl := up(t, seed(t))
	out, err := exec.Command("nft", "list", "set", "inet", kernel.TableName(tl.Name), "links").CombinedOutput()
	if err != nil {
		t.Fatalf("nft list set: %v\n%s", err, out)
	}
	want := `"` + plan.BridgeName(tl.Name, "br-ns") + `"`
	if !strings.Contains(string(out), "elements = { "+want+" }") {
		t.Errorf("nft list set inet %s links:\n%s\nwant elements = { %s }", kernel.TableName(tl.Name), out, want)
	}
}

// TestNftShowsPublishAsPlanned: the published ports' rules read back
// with nft are those nslab plan renders.
func TestNftShowsPublishAsPlanned(t *testing.T) {
	nslabtest.RequireRoot(t)
	needNftables(t)
	needNft(t)
	p1, p2 := freePort(t), freePort(t)
	tl, sub := gatewayLab(t, "", fmt.Sprintf(`"%d:8080", "0.0.0.0:%d:8080/udp"`, p1, p2))
	out, err := exec.Command("nft", "list", "chain", "inet", kernel.TableName(tl.Name), "prerouting").CombinedOutput()
	if err != nil {
		t.Fatalf("nft list chain: %v\n%s", err, out)
	}
	for _, want := range []string{
		fmt.Sprintf("ip daddr { %s.1, 127.0.0.1 } tcp dport %d dnat ip to %s.2:8080", sub, p1, sub),
		fmt.Sprintf("meta nfproto ipv4 fib daddr type local udp dport %d dnat ip to %s.2:8080", p2, sub),
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("nft list chain inet %s prerouting:\n%s\nwant a rule %q", kernel.TableName(tl.Name), out, want)
		}
	}
}
