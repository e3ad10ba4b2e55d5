package lab_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nslab/nslab/lab"
	"github.com/nslab/nslab/nslabtest"
	"github.com/nslab/nslab/topology"
)

// tryUp builds a lab and registers its teardown; it returns up's error.
func tryUp(t *testing.T, tl *topology.Lab) error {
	t.Helper()
	t.Cleanup(func() {
		if err := lab.Down(context.Background(), tl.Name, lab.Options{}); err != nil {
			t.Errorf("down: %v", err)
		}
		nslabtest.CheckLeaks(t, tl.Name)
	})
	return lab.Up(context.Background(), tl, sources[tl], lab.Options{})
}

// TestPublishRefusesHostPorts: a port a host process listens on (TCP on
// 127.0.0.1, TCP on [::], UDP on 0.0.0.0) is refused before anything is
// built, naming the process; so is a port another lab publishes, naming
// the lab; a running lab changed by up keeps its own ports.
func TestPublishRefusesHostPorts(t *testing.T) {
	nslabtest.RequireRoot(t)
	needNftables(t)
	tcp4, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer tcp4.Close()
	tcp6, err := net.Listen("tcp6", "[::]:0")
	if err != nil {
		t.Fatal(err)
	}
	defer tcp6.Close()
	udp, err := net.ListenPacket("udp4", "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	defer udp.Close()
	me := fmt.Sprintf("pid %d (%s)", os.Getpid(), filepath.Base(os.Args[0]))
	if len(filepath.Base(os.Args[0])) > 15 {
		me = fmt.Sprintf("pid %d (%s)", os.Getpid(), filepath.Base(os.Args[0])[:15])
	}
	p4 := tcp4.Addr().(*net.TCPAddr).Port
	p6 := tcp6.Addr().(*net.TCPAddr).Port
	pu := udp.LocalAddr().(*net.UDPAddr).Port
	for _, tc := range []struct {
		publish, want string
	}{
		{fmt.Sprintf(`"%d:80"`, p4), fmt.Sprintf("publishes host port %d/tcp, but %s on the host listens on 127.0.0.1:%d", p4, me, p4)},
		{fmt.Sprintf(`"%d:80"`, p6), fmt.Sprintf("publishes host port %d/tcp, but %s on the host listens on [::]:%d", p6, me, p6)},
		{fmt.Sprintf(`"%d:53/udp"`, pu), fmt.Sprintf("publishes host port %d/udp, but %s on the host listens on 0.0.0.0:%d", pu, me, pu)},
	} {
		sub := nslabtest.Subnet(t)
		tl := parse(t, fmt.Sprintf("bridges: {lan: {addresses: [%s.1/24]}}\nnodes:\n  n1:\n    publish: [%s]\n    interfaces: {eth0: {link: lan, addresses: [%s.2/24]}}\n", sub, tc.publish, sub))
		err := tryUp(t, tl)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("publish %s over a host listener: %v\nwant %q", tc.publish, err, tc.want)
		}
		nslabtest.CheckLeaks(t, tl.Name)
	}

	// Another lab's port.
	port := freePort(t)
	a, _ := gatewayLab(t, "", fmt.Sprintf(`"%d:8080"`, port))
	sub := nslabtest.Subnet(t)
	b := parse(t, fmt.Sprintf("bridges: {lan: {addresses: [%s.1/24]}}\nnodes:\n  n1:\n    publish: [\"%d:80\"]\n    interfaces: {eth0: {link: lan, addresses: [%s.2/24]}}\n", sub, port, sub))
	want := fmt.Sprintf("node n1 publishes host port %d/tcp, which lab %s publishes already", port, a.Name)
	if err := tryUp(t, b); err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("publish a port of another lab: %v\nwant %q", err, want)
	}
	// The running lab, changed, keeps its port.
	src := strings.Replace(string(sources[a]), "eth0: {link: lan}", "eth0: {link: lan}\n  n2: {}", 1)
	a2, err := topology.Parse(a.Name+".yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if err := lab.Up(context.Background(), a2, []byte(src), lab.Options{}); err != nil {
		t.Errorf("changing a lab that publishes a port: %v", err)
	}
}

// TestSubnetClaimIsAtomic: two labs claiming the same host-side subnet,
// started at the same moment, never both build: exactly one wins, each
// of 10 times.
func TestSubnetClaimIsAtomic(t *testing.T) {
	nslabtest.RequireRoot(t)
	for i := range 10 {
		sub := nslabtest.Subnet(t)
		var labs [2]*topology.Lab
		for j := range labs {
			labs[j] = parse(t, fmt.Sprintf("bridges: {lan: {addresses: [%s.1/24]}}\nnodes:\n  n1: {interfaces: {eth0: {link: lan, addresses: [%s.2/24]}}}\n", sub, sub))
		}
		errs := upAtOnce(t, labs)
		if (errs[0] == nil) == (errs[1] == nil) {
			t.Fatalf("try %d: both ups of %s.0/24 returned %v and %v; want exactly one to win", i+1, sub, errs[0], errs[1])
		}
		for j, err := range errs {
			if err != nil && !strings.Contains(err.Error(), "overlaps") {
				t.Errorf("try %d: the loser failed with %v; want an overlap naming %s", i+1, err, labs[1-j].Name)
			}
		}
	}
}

// TestLabsBuildConcurrently: two labs of 30 nodes on different subnets,
// started at once, build at the same time: the host's lock is held only
// while they check and record their claims, not while they build. Each
// lab's build runs from its first to its last operation (seen through
// Progress); the two spans overlap.
func TestLabsBuildConcurrently(t *testing.T) {
	nslabtest.RequireRoot(t)
	mk := func() *topology.Lab {
		sub := nslabtest.Subnet(t)
		var b strings.Builder
		fmt.Fprintf(&b, "bridges: {lan: {addresses: [%s.1/24]}}\nnodes:\n", sub)
		for i := range 30 {
			fmt.Fprintf(&b, "  n%d: {interfaces: {eth0: {link: lan, addresses: [%s.%d/24]}}}\n", i, sub, i+2)
		}
		return parse(t, b.String())
	}
	a, b := mk(), mk()
	for try := range 3 {
		var spans [2][2]time.Time
		var mu sync.Mutex
		var wg sync.WaitGroup
		start := time.Now()
		for i, l := range []*topology.Lab{a, b} {
			opt := lab.Options{Progress: func(lab.Progress) {
				mu.Lock()
				defer mu.Unlock()
				if spans[i][0].IsZero() {
					spans[i][0] = time.Now()
				}
				spans[i][1] = time.Now()
			}}
			wg.Go(func() {
				if err := lab.Up(context.Background(), l, sources[l], opt); err != nil {
					t.Errorf("up: %v", err)
				}
			})
		}
		wg.Wait()
		took := time.Since(start)
		for _, l := range []*topology.Lab{a, b} {
			if err := lab.Down(context.Background(), l.Name, lab.Options{}); err != nil {
				t.Errorf("down: %v", err)
			}
			nslabtest.CheckLeaks(t, l.Name)
		}
		ms := func(x time.Time) int64 { return x.Sub(start).Milliseconds() }
		t.Logf("try %d: both up in %v; a built from %d to %d ms, b from %d to %d ms", try+1, took.Round(time.Millisecond), ms(spans[0][0]), ms(spans[0][1]), ms(spans[1][0]), ms(spans[1][1]))
		if spans[0][0].Before(spans[1][1]) && spans[1][0].Before(spans[0][1]) {
			return
		}
	}
	t.Errorf("in 3 tries, two labs never built at the same time: the host's lock serialises builds")
}

// TestHostRouteOverlap: a route of the host (on a veth the test made)
// to the lab's subnet stops up, naming the route and its device.
func TestHostRouteOverlap(t *testing.T) {
	nslabtest.RequireRoot(t)
	sub := nslabtest.Subnet(t)
	dev := fmt.Sprintf("nsltr%d", os.Getpid()%100000)
	t.Cleanup(func() { exec.Command("ip", "link", "delete", dev).Run() })
	nslabtest.IP(t, "link", "add", dev, "type", "veth", "peer", "name", dev+"p")
	nslabtest.IP(t, "link", "set", dev, "up")
	nslabtest.IP(t, "route", "add", sub+".0/25", "dev", dev)
	tl := parse(t, fmt.Sprintf("bridges: {lan: {addresses: [%s.1/24]}}\nnodes:\n  n1: {interfaces: {eth0: {link: lan, addresses: [%s.2/24]}}}\n", sub, sub))
	err := tryUp(t, tl)
	want := fmt.Sprintf("bridge lan: %s.1/24 overlaps the host's route to %s.0/25 dev %s", sub, sub, dev)
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("up over a host route: %v\nwant %q", err, want)
	}
	nslabtest.CheckLeaks(t, tl.Name)
}

// TestHostLocalRouteOverlap: a local route of the host that no address
// made (ip route add local PREFIX: the host answers for every address in
// it), here in the local table on a veth the test made, stops up as any
// other route does.
func TestHostLocalRouteOverlap(t *testing.T) {
	nslabtest.RequireRoot(t)
	sub := nslabtest.Subnet(t)
	dev := fmt.Sprintf("nsltl%d", os.Getpid()%100000)
	t.Cleanup(func() { exec.Command("ip", "link", "delete", dev).Run() })
	nslabtest.IP(t, "link", "add", dev, "type", "veth", "peer", "name", dev+"p")
	nslabtest.IP(t, "link", "set", dev, "up")
	nslabtest.IP(t, "route", "add", "local", sub+".200/32", "dev", dev, "table", "local")
	tl := parse(t, fmt.Sprintf("bridges: {lan: {addresses: [%s.1/24]}}\nnodes:\n  n1: {interfaces: {eth0: {link: lan, addresses: [%s.2/24]}}}\n", sub, sub))
	err := tryUp(t, tl)
	want := fmt.Sprintf("bridge lan: %s.1/24 overlaps the host's route to %s.200/32", sub, sub)
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("up over a host's local route: %v\nwant %q", err, want)
	}
	nslabtest.CheckLeaks(t, tl.Name)
}

// TestPortClaimIsAtomic: two labs on different subnets publishing the
// same host port, started at the same moment: exactly one builds, each of
// 5 times.
func TestPortClaimIsAtomic(t *testing.T) {
	nslabtest.RequireRoot(t)
	needNftables(t)
	for i := range 5 {
		port := freePort(t)
		var labs [2]*topology.Lab
		for j := range labs {
			sub := nslabtest.Subnet(t)
			labs[j] = parse(t, fmt.Sprintf("bridges: {lan: {addresses: [%s.1/24]}}\nnodes:\n  n1:\n    publish: [\"%d:80\"]\n    interfaces: {eth0: {link: lan, addresses: [%s.2/24]}}\n", sub, port, sub))
		}
		errs := upAtOnce(t, labs)
		if (errs[0] == nil) == (errs[1] == nil) {
			t.Fatalf("try %d: both ups publishing port %d returned %v and %v; want exactly one to win", i+1, port, errs[0], errs[1])
		}
	}
}

// upAtOnce starts the ups of two labs at the same moment, then takes
// both down (leak check included), and returns what each up returned.
func upAtOnce(t *testing.T, labs [2]*topology.Lab) [2]error {
	t.Helper()
	var errs [2]error
	var wg sync.WaitGroup
	start := make(chan struct{})
	for j, l := range labs {
		wg.Go(func() {
			<-start
			errs[j] = lab.Up(context.Background(), l, sources[l], lab.Options{})
		})
	}
	close(start)
	wg.Wait()
	for _, l := range labs {
		if err := lab.Down(context.Background(), l.Name, lab.Options{}); err != nil {
			t.Errorf("down: %v", err)
		}
		nslabtest.CheckLeaks(t, l.Name)
	}
	return errs
}
