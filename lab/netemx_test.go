package lab_test

import (
	"bytes"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nslab/nslab/kernel"
	"github.com/nslab/nslab/lab"
	"github.com/nslab/nslab/nslabtest"
	"github.com/nslab/nslab/plan"
	"github.com/nslab/nslab/topology"
)

// seqPayload is datagram seq's payload: its number and a pattern made
// of it, size bytes in all, so that a receiver tells a damaged one.
func seqPayload(seq, size int) []byte {
	b := []byte(strconv.Itoa(seq) + ":")
	for len(b) < size {
		b = append(b, byte('a'+(seq+len(b))%26))
	}
	return b
}

// udpSeqs sends datagrams 1..n of size bytes from one node to addr in
// another, one every gap (0: 50 every 5ms), and returns, in the order
// they arrived, the numbers of those that arrived intact and the count
// of those that arrived damaged. The receiver stops 600ms after the last
// was sent.
func udpSeqs(t *testing.T, tl *topology.Lab, from, to, addr string, n, size int, gap time.Duration) (seqs []int, damaged int) {
	t.Helper()
	var pc *net.UDPConn
	err := kernel.Do(kernel.NetnsPath(plan.NetnsName(tl.Name, to)), func() (err error) {
		a, err := net.ResolveUDPAddr("udp", net.JoinHostPort(addr, "0"))
		if err != nil {
			return err
		}
		pc, err = net.ListenUDP("udp", a)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	if err := pc.SetReadBuffer(16 << 20); err != nil {
		t.Fatal(err)
	}
	type result struct {
		seqs    []int
		damaged int
	}
	sent := make(chan time.Time, 1)
	got := make(chan result)
	ready := make(chan struct{})
	go func() {
		var r result
		var end time.Time
		readyClosed := false
		buf := make([]byte, size+64)
		for {
			select {
			case at := <-sent:
				end = at.Add(600 * time.Millisecond)
			default:
			}
			if !end.IsZero() && time.Now().After(end) {
				got <- r
				return
			}
			pc.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
			k, err := pc.Read(buf)
			if err != nil {
				continue
			}
			if !readyClosed {
				readyClosed = true
				close(ready)
			}
			head, _, _ := bytes.Cut(buf[:k], []byte(":"))
			seq, err := strconv.Atoi(string(head))
			switch {
			case err == nil && seq == 0:
			case err == nil && seq >= 1 && seq <= n && bytes.Equal(buf[:k], seqPayload(seq, size)):
				r.seqs = append(r.seqs, seq)
			default:
				r.damaged++
			}
		}
	}()
	err = kernel.Do(kernel.NetnsPath(plan.NetnsName(tl.Name, from)), func() error {
		c, err := net.Dial("udp", pc.LocalAddr().String())
		if err != nil {
			return err
		}
		defer c.Close()
		warmUp(c, seqPayload(0, size), ready) // datagram 0 settles the neighbour
		time.Sleep(200 * time.Millisecond)    // warm-up datagrams still delayed arrive before the measure
		for i := 1; i <= n; i++ {
			if _, err := c.Write(seqPayload(i, size)); err != nil {
				return err
			}
			switch {
			case gap > 0:
				time.Sleep(gap)
			case i%50 == 0:
				time.Sleep(5 * time.Millisecond)
			}
		}
		return nil
	})
	sent <- time.Now()
	r := <-got
	if err != nil {
		t.Fatal(err)
	}
	return r.seqs, r.damaged
}

// overtaking counts the datagrams that arrived before one sent earlier:
// those that overtook.
func overtaking(seqs []int) int {
	arrived := map[int]bool{}
	next, over := 1, 0
	for _, s := range seqs {
		if s > next {
			over++
		}
		arrived[s] = true
		for arrived[next] {
			next++
		}
	}
	return over
}

// TestNetemDuplicateReorderCorrupt measures netem's duplicate, reorder
// and corrupt as the file writes them, each way of a cable, with UDP
// datagrams carrying sequence numbers: 20% duplicate brings about 20%
// extra datagrams; with a 50ms delay, 25% reorder sends about a quarter
// at once, ahead of those delayed (each of them overtakes); 10% corrupt
// damages or loses about 10%. An unshaped cable from the same node shows
// none of it. status reads every shape back in the file's units.
func TestNetemDuplicateReorderCorrupt(t *testing.T) {
	needNetem(t)
	sub := nslabtest.Subnet(t)
	tl := up(t, fmt.Sprintf(`
nodes:
  a:
    interfaces:
      eth0: {link: b:eth0, addresses: [%[1]s.1/30], shape: {duplicate: 20%%}}
      eth1: {link: c:eth0, addresses: [%[1]s.5/30], shape: {delay: 50ms, reorder: 25%%}}
      eth2: {link: d:eth0, addresses: [%[1]s.9/30], shape: {corrupt: 10%%}}
      eth3: {link: e:eth0, addresses: [%[1]s.13/30]}
  b: {interfaces: {eth0: {addresses: [%[1]s.2/30]}}}
  c: {interfaces: {eth0: {addresses: [%[1]s.6/30]}}}
  d: {interfaces: {eth0: {addresses: [%[1]s.10/30]}}}
  e: {interfaces: {eth0: {addresses: [%[1]s.14/30]}}}
`, sub))
	type way struct{ from, to, addr string }

	// The unshaped cable: every datagram once, in order, intact.
	const n = 1000
	for _, w := range []way{{"a", "e", sub + ".14"}, {"e", "a", sub + ".13"}} {
		seqs, damaged := udpSeqs(t, tl, w.from, w.to, w.addr, n, 200, 0)
		t.Logf("unshaped, %s to %s: %d of %d arrived, %d overtook, %d damaged", w.from, w.to, len(seqs), n, overtaking(seqs), damaged)
		if len(seqs) != n || overtaking(seqs) != 0 || damaged != 0 {
			t.Errorf("unshaped, %s to %s: %d datagrams of %d arrived, %d overtook, %d damaged: want each once, in order, intact", w.from, w.to, len(seqs), n, overtaking(seqs), damaged)
		}
	}

	// Duplicate 20%: n*0.2 = 200 extra, deviation 12.6; within 4 of them.
	for _, w := range []way{{"a", "b", sub + ".2"}, {"b", "a", sub + ".1"}} {
		seqs, damaged := udpSeqs(t, tl, w.from, w.to, w.addr, n, 200, 0)
		distinct := map[int]bool{}
		for _, s := range seqs {
			distinct[s] = true
		}
		extra := float64(len(seqs)-len(distinct)) / n
		t.Logf("duplicate 20%%, %s to %s: %d datagrams sent, %d arrived (%d distinct, %.1f%% extra), %d damaged", w.from, w.to, n, len(seqs), len(distinct), extra*100, damaged)
		if len(distinct) != n || damaged != 0 {
			t.Errorf("duplicate 20%%, %s to %s: %d of %d distinct datagrams arrived, %d damaged: want all, intact", w.from, w.to, len(distinct), n, damaged)
		}
		if extra < 0.15 || extra > 0.25 {
			t.Errorf("duplicate 20%%, %s to %s: %.1f%% extra datagrams, want 15%% to 25%%", w.from, w.to, extra*100)
		}
	}

	// Reorder 25% with a 50ms delay, one datagram every ms: a quarter go
	// at once and overtake the ~50 delayed before them; 150 of 600,
	// deviation 10.6: within 4 of them.
	const nr = 600
	for _, w := range []way{{"a", "c", sub + ".6"}, {"c", "a", sub + ".5"}} {
		seqs, damaged := udpSeqs(t, tl, w.from, w.to, w.addr, nr, 200, time.Millisecond)
		over := float64(overtaking(seqs)) / nr
		t.Logf("delay 50ms reorder 25%%, %s to %s: %d of %d arrived, %.1f%% overtook", w.from, w.to, len(seqs), nr, over*100)
		if len(seqs) != nr || damaged != 0 {
			t.Errorf("reorder, %s to %s: %d of %d datagrams arrived, %d damaged: want all, intact", w.from, w.to, len(seqs), nr, damaged)
		}
		if over < 0.18 || over > 0.32 {
			t.Errorf("delay 50ms reorder 25%%, %s to %s: %.1f%% of the datagrams overtook one sent earlier, want 18%% to 32%%", w.from, w.to, over*100)
		}
	}

	// Corrupt 10%: a bit flipped in a tenth of the packets; the
	// receiver's checksums drop nearly all of them (in the 6.1 VM none
	// arrived damaged), a flip in a source MAC goes unseen. 100 of 1000,
	// deviation 9.5: damaged and lost together within 4 of them.
	for _, w := range []way{{"a", "d", sub + ".10"}, {"d", "a", sub + ".9"}} {
		seqs, damaged := udpSeqs(t, tl, w.from, w.to, w.addr, n, 200, 0)
		hit := float64(n-len(seqs)) / n
		t.Logf("corrupt 10%%, %s to %s: %d of %d arrived intact, %d damaged, %d lost (%.1f%% hit)", w.from, w.to, len(seqs), n, damaged, n-len(seqs)-damaged, hit*100)
		if hit < 0.062 || hit > 0.138 {
			t.Errorf("corrupt 10%%, %s to %s: %.1f%% of the datagrams damaged or lost, want 6.2%% to 13.8%%", w.from, w.to, hit*100)
		}
	}

	st, err := lab.GetStatus(tl.Name)
	if err != nil {
		t.Fatal(err)
	}
	var shapes []string
	for _, n := range st.Nodes {
		for _, i := range n.Interfaces {
			if i.Shape != "" {
				shapes = append(shapes, n.Name+":"+i.Name+" "+i.Shape)
			}
		}
	}
	want := []string{
		"a:eth0 duplicate 20%", "a:eth1 delay 50ms, reorder 25%", "a:eth2 corrupt 10%",
		"b:eth0 duplicate 20%", "c:eth0 delay 50ms, reorder 25%", "d:eth0 corrupt 10%",
	}
	if strings.Join(shapes, "\n") != strings.Join(want, "\n") {
		t.Errorf("status reads the shapes back as\n%s\nwant\n%s", strings.Join(shapes, "\n"), strings.Join(want, "\n"))
	}
}
