package lab_test

import (
	"bytes"
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nslab/nslab/check"
	"github.com/nslab/nslab/internal/stockvm"
	"github.com/nslab/nslab/kernel"
	"github.com/nslab/nslab/lab"
	"github.com/nslab/nslab/nslabtest"
	"github.com/nslab/nslab/plan"
)

// guestScript runs in the VM: it gives the one network card an address
// on the lab's subnet, and no route (the guest reaches its segment and
// nothing else), then waits to be pinged.
const guestScript = `#!/bin/sh
dev=
for d in /sys/class/net/*; do n=${d##*/}; [ "$n" = lo ] || { dev=$n; break; }; done
[ -n "$dev" ] || { echo "guest: no network card"; exit 1; }
ip link set lo up
ip link set "$dev" up
ip addr add ADDR dev "$dev"
echo "guest: $dev up with ADDR"
ip -o addr show dev "$dev"
ip route
sleep 600
`

// TestTapGuest boots the stock kernel in qemu with its one network card
// on a lab bridge's tap, and a lab node pings it: the tap is down (no
// carrier) until qemu opens it, up while it does, down again after; the
// guest answers from the address it gave itself; down removes the tap.
func TestTapGuest(t *testing.T) {
	nslabtest.RequireRoot(t)
	if os.Getenv(stockvm.InVM) != "" {
		t.Skip("inside the stock-kernel VM already: no qemu in qemu")
	}
	s, err := stockvm.Find()
	if err != nil {
		t.Skipf("needs qemu and a stock kernel to boot a guest on the tap: %v", err)
	}
	if _, err := os.Stat("/dev/net/tun"); err != nil {
		t.Skipf("this kernel has no tun/tap: %v", err)
	}
	sub := nslabtest.Subnet(t)
	tl := segUp(t, strings.ReplaceAll(`
bridges:
  sw: {taps: {vm: {}}}
nodes:
  n1: {interfaces: {eth0: {link: sw, addresses: [SUB.2/24]}}}
`, "SUB", sub))
	tap := plan.TapName(tl.Name, "vm")
	if st := tapState(t, tl.Name); st != "down" {
		t.Errorf("tap before the VM: %s, want down (no carrier)", st)
	}

	script := filepath.Join(t.TempDir(), "guest.sh")
	if err := os.WriteFile(script, []byte(strings.ReplaceAll(guestScript, "ADDR", sub+".3/24")), 0o755); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var out bytes.Buffer
	var wg sync.WaitGroup
	var res stockvm.Result
	start := time.Now()
	wg.Go(func() {
		res, _ = s.Run(ctx, stockvm.Job{Binary: script, Tap: tap, MAC: "52:54:00:6e:73:01", Out: &out,
			Timeout: 4 * time.Minute, Memory: 256, CPUs: 1, Logf: t.Logf})
	})
	stop := func() {
		cancel() // qemu, which this test started, is killed
		wg.Wait()
	}
	t.Cleanup(stop)

	guest := netip.MustParseAddr(sub + ".3")
	ns := kernel.NetnsPath(plan.NetnsName(tl.Name, "n1"))
	var answered check.Result
	for time.Since(start) < 3*time.Minute && !answered.OK {
		answered = check.Ping(context.Background(), ns, []check.Target{{Addr: guest}}, check.Options{Timeout: time.Second})[0]
	}
	if !answered.OK {
		stop()
		t.Fatalf("the guest never answered at %s (%s); its output:\n%s", guest, answered.Err, out.String())
	}
	t.Logf("guest (kernel %s) answered n1's ping %v after qemu started, rtt %v",
		s.Version, time.Since(start).Round(100*time.Millisecond), answered.RTT)
	var rtts []time.Duration
	for range 5 {
		r := check.Ping(context.Background(), ns, []check.Target{{Addr: guest}}, check.Options{Timeout: time.Second})[0]
		if !r.OK {
			t.Errorf("guest stopped answering: %s", r.Err)
		}
		rtts = append(rtts, r.RTT)
	}
	t.Logf("5 more pings: rtt %v", rtts)
	if st := tapState(t, tl.Name); st != "up" {
		t.Errorf("tap while qemu holds it: %s, want up", st)
	}
	stop()
	t.Logf("guest output:\n%s(qemu %s, boot %v)", out.String(), res.Accel, res.Boot.Round(time.Millisecond))
	if st := tapState(t, tl.Name); st != "down" {
		t.Errorf("tap after qemu: %s, want down", st)
	}
}

// tapState is the state status shows for the lab's one tap.
func tapState(t *testing.T, name string) string {
	t.Helper()
	st, err := lab.GetStatus(name)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range st.Bridges {
		for _, tp := range b.Taps {
			return tp.State
		}
	}
	t.Fatal("status lists no tap")
	return ""
}
