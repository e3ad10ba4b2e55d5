package main

// The bench's own sampled reachability probe, used when the nslab under
// test has no `nslab check --sample N` yet, and to check that the ip
// script's star works. ICMP echo from inside one node's namespace to
// another node's address: traffic stays between the lab's namespaces.

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vishvananda/netns"
	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// pair is one probe: from a node's namespace to an address of another.
type pair struct {
	from, to string // node names
	nsPath   string
	dst      netip.Addr
}

// samplePairs picks n random (fixed seed) pairs of distinct hosts, one
// probe per address family the target has.
func samplePairs(lf *labFile, nsPath func(node string) string, n int) []pair {
	hosts := lf.hosts()
	if len(hosts) < 2 {
		return nil
	}
	r := rand.New(rand.NewPCG(1, 2))
	var pairs []pair
	for i := 0; i < n; i++ {
		a := hosts[r.IntN(len(hosts))]
		bn := hosts[r.IntN(len(hosts))]
		for bn == a {
			bn = hosts[r.IntN(len(hosts))]
		}
		var v4, v6 bool
		for _, addr := range lf.Nodes[bn] {
			if addr.IsLinkLocalUnicast() {
				continue
			}
			if addr.Is4() && !v4 || addr.Is6() && !v6 {
				pairs = append(pairs, pair{from: a, to: bn, nsPath: nsPath(a), dst: addr})
				v4 = v4 || addr.Is4()
				v6 = v6 || addr.Is6()
			}
		}
	}
	return pairs
}

// probeReport is the outcome of a sampled probe.
type probeReport struct {
	Pairs, Probes, Failed int
	Failures              []string
	failed                []pair
}

func (p probeReport) String() string {
	s := fmt.Sprintf("%d pairs, %d probes, %d failed", p.Pairs, p.Probes, p.Failed)
	if len(p.Failures) > 0 {
		s += " (" + strings.Join(p.Failures, "; ") + ")"
	}
	return s
}

// probePairs pings every pair, a few at a time.
func probePairs(ctx context.Context, pairs []pair, timeout time.Duration) probeReport {
	rep := probeReport{Probes: len(pairs)}
	seen := map[string]bool{}
	for _, p := range pairs {
		seen[p.from+">"+p.to] = true
	}
	rep.Pairs = len(seen)
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for i, p := range pairs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			err := ping(ctx, p.nsPath, p.dst, uint16(i), timeout)
			if err != nil {
				mu.Lock()
				rep.Failed++
				rep.failed = append(rep.failed, p)
				if len(rep.Failures) < 5 {
					rep.Failures = append(rep.Failures, fmt.Sprintf("%s → %s (%s): %v", p.from, p.to, p.dst, err))
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	sort.Strings(rep.Failures)
	return rep
}

// listenIn opens a raw ICMP socket inside the namespace at nsPath. The
// socket stays bound to that namespace after the thread switches back.
func listenIn(nsPath string, v6 bool) (*icmp.PacketConn, error) {
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		return nil, err
	}
	defer orig.Close()
	target, err := netns.GetFromPath(nsPath)
	if err != nil {
		runtime.UnlockOSThread()
		return nil, err
	}
	defer target.Close()
	if err := netns.Set(target); err != nil {
		runtime.UnlockOSThread()
		return nil, err
	}
	network, laddr := "ip4:icmp", "0.0.0.0"
	if v6 {
		network, laddr = "ip6:ipv6-icmp", "::"
	}
	c, lerr := icmp.ListenPacket(network, laddr)
	if err := netns.Set(orig); err != nil {
		// Leave the thread locked: the runtime ends it with the goroutine.
		if c != nil {
			c.Close()
		}
		return nil, fmt.Errorf("returning to the host namespace: %w", err)
	}
	runtime.UnlockOSThread()
	return c, lerr
}

// ping sends up to three echo requests from the namespace to dst and
// waits for a matching reply.
func ping(ctx context.Context, nsPath string, dst netip.Addr, seq uint16, timeout time.Duration) error {
	c, err := listenIn(nsPath, dst.Is6())
	if err != nil {
		return err
	}
	defer c.Close()
	id := int(rand.Uint32() & 0xffff)
	var typ, reply icmp.Type = ipv4.ICMPTypeEcho, ipv4.ICMPTypeEchoReply
	proto := 1
	if dst.Is6() {
		typ, reply, proto = ipv6.ICMPTypeEchoRequest, ipv6.ICMPTypeEchoReply, 58
	}
	buf := make([]byte, 1500)
	for attempt := 0; attempt < 3; attempt++ {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		msg := icmp.Message{Type: typ, Body: &icmp.Echo{ID: id, Seq: int(seq) + attempt, Data: []byte("nslab-bench")}}
		wb, err := msg.Marshal(nil)
		if err != nil {
			return err
		}
		if _, err := c.WriteTo(wb, &net.IPAddr{IP: dst.AsSlice()}); err != nil {
			return err
		}
		deadline := time.Now().Add(timeout)
		c.SetReadDeadline(deadline)
		for time.Now().Before(deadline) {
			n, from, err := c.ReadFrom(buf)
			if err != nil {
				break
			}
			src, ok := netip.AddrFromSlice(from.(*net.IPAddr).IP)
			if !ok || src.Unmap() != dst {
				continue
			}
			m, err := icmp.ParseMessage(proto, buf[:n])
			if err != nil || m.Type != reply {
				continue
			}
			if e, ok := m.Body.(*icmp.Echo); ok && e.ID == id {
				return nil
			}
		}
	}
	return errors.New("no reply")
}

// probeWithRetry probes the pairs and, when some do not answer, probes
// those again a few seconds later: right after a large lab comes up the
// kernel may still drop packets (see softnetDrops), and the account says
// so instead of calling the pair unreachable. ok means every probe was
// answered at once, okLater that every one was at least on the retry.
func probeWithRetry(ctx context.Context, pairs []pair) (account string, ok, okLater bool) {
	start := time.Now()
	rep := probePairs(ctx, pairs, time.Second)
	s := fmt.Sprintf("bench prober: %s in %s", rep, secs(time.Since(start)))
	if rep.Probes == 0 {
		return s + " (nothing to probe)", false, false
	}
	if rep.Failed == 0 || ctx.Err() != nil {
		return s, rep.Failed == 0, rep.Failed == 0
	}
	select {
	case <-ctx.Done():
		return s, false, false
	case <-time.After(5 * time.Second):
	}
	again := probePairs(ctx, rep.failed, time.Second)
	s += fmt.Sprintf("; 5 s later those %d probes: %d failed", again.Probes, again.Failed)
	return s, false, again.Failed == 0
}

// softnetDrops is the number of packets the kernel dropped because a
// CPU's input backlog was full (/proc/net/softnet_stat, second column),
// summed over the CPUs. A broadcast or multicast flooded to a thousand
// bridge ports at once overflows it.
func softnetDrops() int64 {
	data, err := os.ReadFile("/proc/net/softnet_stat")
	if err != nil {
		return 0
	}
	var sum int64
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) > 1 {
			v, _ := strconv.ParseInt(f[1], 16, 64)
			sum += v
		}
	}
	return sum
}
