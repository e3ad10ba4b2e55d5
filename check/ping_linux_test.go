package check

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nslab/nslab/kernel"
	"golang.org/x/sys/unix"
)

// pair builds namespaces a and b on one veth pair, dual-stack. a also
// holds 10.88.0.1, a source that b has no route back to.
func pair(t *testing.T) (a, b string) {
	t.Helper()
	a, b = newNetns(t, "a"), newNetns(t, "b")
	veth(t, a, "eth0", b, "eth0",
		[]string{"10.77.0.1/24", "fd77::1/64", "10.88.0.1/24"},
		[]string{"10.77.0.2/24", "fd77::2/64"})
	// Neighbour solicitations need the solicited-node groups (see
	// waitSolicited): probes of 300ms flaked under load without them.
	waitSolicited(t, b, addrs("fd77::2"))
	waitSolicited(t, a, addrs("fd77::1"))
	return a, b
}

func addrs(ss ...string) []Target {
	var ts []Target
	for _, s := range ss {
		ts = append(ts, Target{Addr: netip.MustParseAddr(s)})
	}
	return ts
}

func TestPing(t *testing.T) {
	needRoot(t)
	a, _ := pair(t)
	const timeout = 300 * time.Millisecond
	targets := append(addrs("10.77.0.2", "fd77::2", "10.77.0.1", "fd77::1", "10.77.0.99", "fd77::99"),
		Target{Addr: netip.MustParseAddr("10.77.0.2"), Src: netip.MustParseAddr("10.77.0.1")},
		Target{Addr: netip.MustParseAddr("10.77.0.2"), Src: netip.MustParseAddr("10.88.0.1")},
		Target{Addr: netip.MustParseAddr("10.77.0.2"), Src: netip.MustParseAddr("10.77.0.50")},
		Target{Addr: netip.MustParseAddr("fd77::2"), Dev: "eth0"},
		Target{Addr: netip.MustParseAddr("fd77::2"), Dev: "nope0"},
	)
	want := []string{
		"ok", "ok", "ok", "ok",
		"no reply after 300ms", "no reply after 300ms",
		"ok",
		"no reply after 300ms",                   // b cannot answer 10.88.0.1: the source was used
		"sending echo request from 10.77.0.50: ", // not a local address
		"ok",
		"no interface nope0 to send from",
	}
	start := time.Now()
	res := Ping(context.Background(), kernel.NetnsPath(a), targets, Options{Timeout: timeout})
	elapsed := time.Since(start)
	for i, r := range res {
		got := r.Err
		if r.OK {
			got = "ok"
		}
		if !strings.HasPrefix(got, want[i]) || r.Target != targets[i] {
			t.Errorf("target %d %+v: got %q, want %q", i, targets[i], got, want[i])
		}
		if r.OK && (r.RTT <= 0 || r.RTT > timeout) {
			t.Errorf("target %d: RTT %v out of range", i, r.RTT)
		}
	}
	if elapsed < timeout || elapsed > timeout+500*time.Millisecond {
		t.Errorf("Ping took %v, want about %v", elapsed, timeout)
	}
	t.Logf("%d targets in %v", len(targets), elapsed)
}

// manyTargets gives b n more IPv4 and n more IPv6 addresses and returns
// them as targets.
func manyTargets(t *testing.T, b string, n int) []Target {
	t.Helper()
	var batch strings.Builder
	var ts []Target
	for i := range n {
		a4, a6 := fmt.Sprintf("10.77.%d.%d", 1+i/250, 1+i%250), fmt.Sprintf("fd77::1:%x", i)
		fmt.Fprintf(&batch, "addr add %s/16 dev eth0\naddr add %s/64 dev eth0 nodad\n", a4, a6)
		ts = append(ts, addrs(a4, a6)...)
	}
	ipIn(t, batch.String(), "-n", b, "-batch", "-")
	waitSolicited(t, b, ts)
	return ts
}

// waitSolicited waits until b's eth0 has joined the solicited-node
// group of every IPv6 target. The kernel joins it from a work queue
// after the address is added, NODAD or not; a neighbour solicitation
// sent before that goes unanswered and the next one follows only after
// retrans_time (1 s), longer than the tests' probe timeouts.
func waitSolicited(t *testing.T, b string, ts []Target) {
	t.Helper()
	want := map[netip.Addr]bool{}
	for _, tg := range ts {
		if tg.Addr.Is6() {
			a := tg.Addr.As16()
			want[netip.AddrFrom16([16]byte{0: 0xff, 1: 0x02, 11: 0x01, 12: 0xff, 13: a[13], 14: a[14], 15: a[15]})] = true
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		out, err := exec.Command("ip", "-n", b, "-6", "maddr", "show", "dev", "eth0").Output()
		if err != nil {
			t.Fatalf("ip -n %s -6 maddr: %v", b, err)
		}
		joined := map[netip.Addr]bool{}
		for _, f := range strings.Fields(string(out)) {
			if a, err := netip.ParseAddr(f); err == nil {
				joined[a] = true
			}
		}
		missing := 0
		for g := range want {
			if !joined[g] {
				missing++
			}
		}
		if missing == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d solicited-node groups still not joined after 5s", b, missing)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestPingMany(t *testing.T) {
	needRoot(t)
	a, b := pair(t)
	ip(t, "-n", a, "route", "add", "10.77.0.0/16", "dev", "eth0")
	targets := manyTargets(t, b, 100)
	start := time.Now()
	res := Ping(context.Background(), kernel.NetnsPath(a), targets, Options{})
	elapsed := time.Since(start)
	for _, r := range res {
		if !r.OK {
			t.Errorf("%s: %s", r.Target.Addr, r.Err)
		}
	}
	if elapsed >= DefaultTimeout {
		t.Errorf("pinging %d targets took %v: some waited for a timeout", len(targets), elapsed)
	}
	t.Logf("%d targets (cold neighbour cache) in %v", len(targets), elapsed)
	start = time.Now()
	Ping(context.Background(), kernel.NetnsPath(a), targets, Options{})
	t.Logf("%d targets (warm) in %v", len(targets), time.Since(start))
}

// TestPingConcurrent runs probers side by side in one namespace: each
// must see only its own replies. One prober's target cannot answer (its
// source has no route back) while the others' replies come from the
// very same address.
func TestPingConcurrent(t *testing.T) {
	needRoot(t)
	a, b := pair(t)
	ip(t, "-n", a, "route", "add", "10.77.0.0/16", "dev", "eth0")
	targets := manyTargets(t, b, 50)
	deaf := []Target{{Addr: netip.MustParseAddr("10.77.0.2"), Src: netip.MustParseAddr("10.88.0.1")}}
	var wg sync.WaitGroup
	opt := Options{Timeout: 400 * time.Millisecond}
	for p := range 4 {
		wg.Go(func() {
			for _, r := range Ping(context.Background(), kernel.NetnsPath(a), targets, opt) {
				if !r.OK {
					t.Errorf("prober %d: %s: %s", p, r.Target.Addr, r.Err)
				}
			}
		})
	}
	wg.Go(func() {
		if r := Ping(context.Background(), kernel.NetnsPath(a), deaf, opt)[0]; r.OK {
			t.Errorf("deaf target answered: another prober's reply was taken")
		}
	})
	wg.Wait()
}

func TestPingCancel(t *testing.T) {
	needRoot(t)
	a, _ := pair(t)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	res := Ping(ctx, kernel.NetnsPath(a), addrs("10.77.0.99"), Options{Timeout: 5 * time.Second})
	if res[0].OK || !strings.Contains(res[0].Err, "deadline exceeded") || time.Since(start) > time.Second {
		t.Errorf("Ping after cancel = %+v after %v", res[0], time.Since(start))
	}
}

func TestPingNoNamespace(t *testing.T) {
	_, err := ping(context.Background(), "/run/netns/nslchk-does-not-exist", addrs("10.77.0.2"), Options{})
	if err == nil || !strings.Contains(err.Error(), "nslchk-does-not-exist") {
		t.Errorf("ping() error = %v, want one naming the namespace", err)
	}
}

// TestPingSocketFallback runs Ping without CAP_NET_RAW (a re-executed
// test binary under setpriv), where it must fall back to ping sockets.
func TestPingSocketFallback(t *testing.T) {
	if path := os.Getenv("NSLCHK_FALLBACK_NS"); path != "" {
		pingWithoutRaw(t, path)
		return
	}
	needRoot(t)
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		t.Skip("needs setpriv(1) to drop CAP_NET_RAW")
	}
	a, _ := pair(t)
	sysctlIn(t, a, "net.ipv4.ping_group_range", "0 2147483647")
	cmd := exec.Command(setpriv, "--bounding-set=-net_raw", os.Args[0], "-test.run=^TestPingSocketFallback$", "-test.v")
	cmd.Env = append(os.Environ(), "NSLCHK_FALLBACK_NS="+kernel.NetnsPath(a))
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS") || strings.Contains(string(out), "--- SKIP") {
		t.Errorf("child without CAP_NET_RAW: %v\n%s", err, out)
	}
}

func pingWithoutRaw(t *testing.T, path string) {
	if fd, err := unix.Socket(unix.AF_INET, unix.SOCK_RAW, unix.IPPROTO_ICMP); err == nil {
		unix.Close(fd)
		t.Skip("raw sockets still allowed")
	}
	res := Ping(context.Background(), path, addrs("10.77.0.2", "fd77::2", "10.77.0.99"), Options{Timeout: 300 * time.Millisecond})
	if !res[0].OK || !res[1].OK || res[2].OK {
		t.Errorf("Ping over ping sockets = %+v", res)
	}
}
