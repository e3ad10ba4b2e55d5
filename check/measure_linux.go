package check

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"sync"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/nslab/nslab/kernel"
)

// Measure measures each shaped path both ways (see Tolerance), at most
// parallel paths at once (each path is a cable of its own, so they share
// no link), and holds the figures to the paths' shapes.
func Measure(ctx context.Context, lab string, paths []Path, parallel int) *MeasureReport {
	rep := &MeasureReport{Lab: lab, Paths: make([]PathResult, len(paths)), Tolerance: Tolerance}
	sem := make(chan struct{}, max(parallel, 1))
	var wg sync.WaitGroup
	for i, p := range paths {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			rep.Paths[i] = measurePath(ctx, p)
		})
	}
	wg.Wait()
	for i := range rep.Paths {
		rep.Failed += rep.Paths[i].finish()
	}
	return rep
}

func measurePath(ctx context.Context, p Path) PathResult {
	out := PathResult{Cable: p.Cable}
	fwd := WayResult{From: p.Fwd.From, To: p.Fwd.To, Addr: p.Fwd.Addr.String(), Expected: p.Fwd.Want}
	back := WayResult{From: p.Back.From, To: p.Back.To, Addr: p.Back.Addr.String(), Expected: p.Back.Want}
	n, gap := exchange(p)
	x, err := udpExchange(ctx, p, n, gap)
	if err != nil {
		out.Err = err.Error()
		return out
	}
	fwd.Sent, fwd.Arrived = n, len(x.fwd)
	back.Sent, back.Arrived = len(x.fwd), len(x.back)
	fwd.Loss, back.Loss = lossPct(fwd.Sent, fwd.Arrived), lossPct(back.Sent, back.Arrived)
	fwd.Delay, fwd.DelayMin = median(x.fwd), minOf(x.fwd)
	back.Delay, back.DelayMin = median(x.back), minOf(x.back)
	out.RTT = minOf(x.rtt)
	for _, w := range []struct {
		way Way
		res *WayResult
	}{{p.Fwd, &fwd}, {p.Back, &back}} {
		if w.way.Want.Rate == 0 || w.way.Want.Loss > 0 {
			continue
		}
		r, err := tcpRate(ctx, w.way)
		if err != nil {
			out.Err = fmt.Sprintf("%s -> %s: rate: %v", w.way.From, w.way.To, err)
			return out
		}
		w.res.Rate = r
	}
	out.Ways = []WayResult{fwd, back}
	return out
}

// inNS runs fn in the network namespace at path; "" is the host's, where
// the caller runs.
func inNS(path string, fn func() error) error {
	if path == "" {
		return fn()
	}
	return kernel.Do(path, fn)
}

// stampedUDP opens a UDP socket in the namespace at path that reads the
// kernel's receive time of each datagram, with a receive buffer for all
// of them: a reader the busy machine delays loses none.
func stampedUDP(path string, open func() (*net.UDPConn, error)) (*net.UDPConn, error) {
	var c *net.UDPConn
	err := inNS(path, func() (err error) {
		c, err = open()
		return err
	})
	if err != nil {
		return nil, err
	}
	rc, err := c.SyscallConn()
	if err == nil {
		cerr := rc.Control(func(fd uintptr) {
			err = errors.Join(unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1),
				unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 8<<20))
		})
		err = errors.Join(err, cerr)
	}
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("setting the socket's options: %w", err)
	}
	return c, nil
}

// readStamped reads a datagram and its kernel receive time.
func readStamped(c *net.UDPConn, buf, oob []byte) (int, *net.UDPAddr, int64, error) {
	k, ok, _, from, err := c.ReadMsgUDP(buf, oob)
	if err != nil {
		return 0, nil, 0, err
	}
	msgs, _ := unix.ParseSocketControlMessage(oob[:ok])
	for _, m := range msgs {
		if m.Header.Level == unix.SOL_SOCKET && m.Header.Type == unix.SO_TIMESTAMPNS && len(m.Data) >= 16 {
			ts := (*unix.Timespec)(unsafe.Pointer(&m.Data[0]))
			return k, from, ts.Nano(), nil
		}
	}
	return k, from, time.Now().UnixNano(), nil
}

// echoHold is how long the echoer waits before each echo: tests stand
// for a slow echoer with it.
var echoHold time.Duration

// exchanged are the figures of one exchange: the one-way delays of the
// datagrams that arrived each way, and the round trips of the echoes.
type exchanged struct {
	fwd, back, rtt []time.Duration
}

// udpExchange sends n datagrams from the path's Fwd.From to Fwd.Addr,
// one every gap, each echoed back; see Tolerance.
func udpExchange(ctx context.Context, p Path, n int, gap time.Duration) (exchanged, error) {
	var x exchanged
	recv, err := stampedUDP(p.Fwd.ToNS, func() (*net.UDPConn, error) {
		return net.ListenUDP("udp", &net.UDPAddr{IP: p.Fwd.Addr.AsSlice()})
	})
	if err != nil {
		return x, fmt.Errorf("listening on %s in %s: %w", p.Fwd.Addr, p.Fwd.To, err)
	}
	defer recv.Close()
	send, err := stampedUDP(p.Fwd.FromNS, func() (*net.UDPConn, error) {
		return net.DialUDP("udp", nil, recv.LocalAddr().(*net.UDPAddr))
	})
	if err != nil {
		return x, fmt.Errorf("sending from %s to %s: %w", p.Fwd.From, recv.LocalAddr(), err)
	}
	defer send.Close()

	// The echoer: each datagram's one-way delay, then back with its own
	// time.
	var fwdMu sync.Mutex
	seen := map[uint32]bool{}
	go func() {
		buf, oob := make([]byte, 64), make([]byte, 128)
		for {
			k, from, at, err := readStamped(recv, buf, oob)
			if err != nil {
				return
			}
			if k != dgramLen {
				continue
			}
			seq := binary.BigEndian.Uint32(buf)
			if seq != warmSeq {
				fwdMu.Lock()
				dup := seen[seq]
				if !dup {
					seen[seq] = true
					x.fwd = append(x.fwd, time.Duration(at-int64(binary.BigEndian.Uint64(buf[4:]))))
				}
				fwdMu.Unlock()
				if dup {
					continue
				}
			}
			if echoHold > 0 {
				time.Sleep(echoHold)
			}
			now := time.Now().UnixNano()
			binary.BigEndian.PutUint64(buf[12:], uint64(now))
			binary.BigEndian.PutUint64(buf[20:], uint64(now-at))
			recv.WriteToUDP(buf[:dgramLen], from)
		}
	}()
	warm := make(chan struct{})
	var warmOnce sync.Once
	var backMu sync.Mutex
	backSeen := map[uint32]bool{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf, oob := make([]byte, 64), make([]byte, 128)
		for {
			k, _, at, err := readStamped(send, buf, oob)
			if err != nil {
				return
			}
			if k != dgramLen {
				continue
			}
			seq := binary.BigEndian.Uint32(buf)
			if seq == warmSeq {
				warmOnce.Do(func() { close(warm) })
				continue
			}
			backMu.Lock()
			if !backSeen[seq] {
				backSeen[seq] = true
				x.back = append(x.back, time.Duration(at-int64(binary.BigEndian.Uint64(buf[12:]))))
				// The round trip is the network's: the time the echoer held
				// the datagram (its program's, slow on a loaded machine) is
				// not the path's.
				held := int64(binary.BigEndian.Uint64(buf[20:]))
				x.rtt = append(x.rtt, time.Duration(at-int64(binary.BigEndian.Uint64(buf[4:]))-held))
			}
			backMu.Unlock()
		}
	}()
	msg := make([]byte, dgramLen)
	put := func(seq uint32) {
		binary.BigEndian.PutUint32(msg, seq)
		binary.BigEndian.PutUint64(msg[4:], uint64(time.Now().UnixNano()))
		send.Write(msg)
	}
	// Until the neighbours are known, the kernel keeps only a few
	// packets: a first datagram, sent again until its echo comes back
	// (3.5 s at most: through a loss an ARP exchange that fails is asked
	// again a second later), settles both ways.
	wait := time.After(3500 * time.Millisecond)
warmUp:
	for {
		put(warmSeq)
		select {
		case <-warm:
			break warmUp
		case <-wait:
			break warmUp
		case <-ctx.Done():
			return x, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	start := time.Now()
	for i := range n {
		if d := time.Until(start.Add(time.Duration(i) * gap)); d > 0 {
			time.Sleep(d)
		}
		put(uint32(i))
	}
	// Stragglers: twice the delays and jitters the ways are shaped to,
	// and half a second.
	settle := 2*(p.Fwd.Want.Delay+p.Fwd.Want.Jitter+p.Back.Want.Delay+p.Back.Want.Jitter) + 500*time.Millisecond
	select {
	case <-time.After(settle):
	case <-ctx.Done():
	}
	recv.Close()
	send.Close()
	<-done
	fwdMu.Lock()
	defer fwdMu.Unlock()
	backMu.Lock()
	defer backMu.Unlock()
	return x, ctx.Err()
}

// tcpRate runs a TCP stream one way for measureWarm + rateTime and
// returns its rate, in bits per second: what the receiving kernel took
// (TCP_INFO's bytes_received, so that a reader the busy machine delays
// changes nothing) in each of rateWindows windows after the warm-up, the
// median window's. A stall of TCP's (a retransmission timeout after a
// drop at the shaper's queue takes 200 ms) lowers one window, not the
// figure.
func tcpRate(ctx context.Context, w Way) (uint64, error) {
	var ln net.Listener
	err := inNS(w.ToNS, func() (err error) {
		ln, err = net.Listen("tcp", net.JoinHostPort(w.Addr.String(), "0"))
		return err
	})
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			close(accepted)
			return
		}
		accepted <- c
		io.Copy(io.Discard, c)
	}()
	var c net.Conn
	err = inNS(w.FromNS, func() (err error) {
		d := net.Dialer{Timeout: 5 * time.Second}
		c, err = d.DialContext(ctx, "tcp", ln.Addr().String())
		return err
	})
	if err != nil {
		return 0, err
	}
	defer c.Close()
	in, ok := <-accepted
	if !ok {
		return 0, fmt.Errorf("the stream to %s was not accepted", ln.Addr())
	}
	defer in.Close()
	c.SetWriteDeadline(time.Now().Add(measureWarm + rateTime))
	rates := make(chan []float64, 1)
	go func() {
		var out []float64
		time.Sleep(measureWarm)
		last, at := bytesReceived(in), time.Now()
		for range rateWindows {
			time.Sleep(rateTime / rateWindows)
			now, t := bytesReceived(in), time.Now()
			out = append(out, float64((now-last)*8)/t.Sub(at).Seconds())
			last, at = now, t
		}
		rates <- out
	}()
	chunk := make([]byte, 64<<10)
	for ctx.Err() == nil {
		if _, err := c.Write(chunk); err != nil {
			break
		}
	}
	rs := <-rates
	slices.Sort(rs)
	return uint64(rs[len(rs)/2]), ctx.Err()
}

// bytesReceived is what the kernel took in on a TCP connection.
func bytesReceived(c net.Conn) uint64 {
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return 0
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return 0
	}
	var n uint64
	rc.Control(func(fd uintptr) {
		if ti, err := unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO); err == nil {
			n = ti.Bytes_received
		}
	})
	return n
}
