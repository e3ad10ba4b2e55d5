package main

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"time"
)

// A stream, as iperf3 runs one: the sender writes for a while, then
// shuts its side; the receiver counts the bytes and the time from the
// first to the last, and answers with both (16 bytes); each end prints
// the rate the receiver saw.

// streamResult is what one stream carried, as -json prints it.
type streamResult struct {
	From    string  `json:"from"`
	To      string  `json:"to"`
	Bytes   int64   `json:"bytes"`
	Seconds float64 `json:"seconds"`
	Gbps    float64 `json:"gbit_per_s"`
}

func (r streamResult) String() string {
	return fmt.Sprintf("TCP stream %s -> %s: %.2f Gbit/s (%.1f MB in %.2f s)", r.From, r.To, r.Gbps, float64(r.Bytes)/1e6, r.Seconds)
}

func streamCmd(args []string) int {
	fs := flag.NewFlagSet("simhosts stream", flag.ContinueOnError)
	listen := fs.String("listen", "", "receive: the address to listen on ([ADDR]:PORT)")
	n := fs.Int("n", 1, "receive: streams to take before exiting (0: until killed)")
	to := fs.String("to", "", "send: the receiver's ADDR:PORT")
	dur := fs.Duration("t", 3*time.Second, "send: how long to send")
	wait := fs.Duration("wait", 20*time.Second, "send: how long to try to connect while the receiver starts")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if (*listen == "") == (*to == "") || fs.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "simhosts stream: give -listen [ADDR]:PORT or -to ADDR:PORT")
		return 2
	}
	var r streamResult
	var err error
	if *listen != "" {
		err = receive(*listen, *n, func(r streamResult) { printResult(r, *asJSON) })
	} else if r, err = send(*to, *dur, *wait); err == nil {
		printResult(r, *asJSON)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "simhosts stream: %v\n", err)
		return 1
	}
	return 0
}

func printResult(r streamResult, asJSON bool) {
	if asJSON {
		b, _ := json.Marshal(r)
		fmt.Println(string(b))
		return
	}
	fmt.Println(r)
}

// receive takes n streams (0: any number) on addr.
func receive(addr string, n int, report func(streamResult)) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	defer ln.Close()
	for i := 0; n == 0 || i < n; i++ {
		conn, err := ln.Accept()
		if err != nil {
			return err
		}
		r, err := sink(conn)
		conn.Close()
		if err != nil {
			return fmt.Errorf("stream from %s: %w", conn.RemoteAddr(), err)
		}
		report(r)
	}
	return nil
}

// sink reads a stream to its end and answers with its bytes and time.
func sink(conn net.Conn) (streamResult, error) {
	r := streamResult{From: conn.RemoteAddr().String(), To: conn.LocalAddr().String()}
	buf := make([]byte, 256<<10)
	var first, last time.Time
	for {
		k, err := conn.Read(buf)
		if k > 0 {
			if first.IsZero() {
				first = time.Now()
			}
			last = time.Now()
			r.Bytes += int64(k)
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return r, err
		}
	}
	r.Seconds = last.Sub(first).Seconds()
	if r.Seconds > 0 {
		r.Gbps = float64(r.Bytes) * 8 / r.Seconds / 1e9
	}
	var ans [16]byte
	binary.BigEndian.PutUint64(ans[:8], uint64(r.Bytes))
	binary.BigEndian.PutUint64(ans[8:], uint64(last.Sub(first)))
	_, err := conn.Write(ans[:])
	return r, err
}

// send connects to addr (retrying while it refuses, up to wait), writes
// for d, and returns the rate the receiver saw.
func send(addr string, d, wait time.Duration) (streamResult, error) {
	var conn net.Conn
	var err error
	for deadline := time.Now().Add(wait); ; time.Sleep(100 * time.Millisecond) {
		conn, err = net.DialTimeout("tcp", addr, 5*time.Second)
		if err == nil || !errors.Is(err, syscall.ECONNREFUSED) || time.Now().After(deadline) {
			break
		}
	}
	if err != nil {
		return streamResult{}, err
	}
	defer conn.Close()
	r := streamResult{From: conn.LocalAddr().String(), To: conn.RemoteAddr().String()}
	buf := make([]byte, 256<<10)
	for end := time.Now().Add(d); time.Now().Before(end); {
		if _, err := conn.Write(buf); err != nil {
			return r, err
		}
	}
	if err := conn.(*net.TCPConn).CloseWrite(); err != nil {
		return r, err
	}
	conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	var ans [16]byte
	if _, err := io.ReadFull(conn, ans[:]); err != nil {
		return r, fmt.Errorf("reading the receiver's count: %w", err)
	}
	r.Bytes = int64(binary.BigEndian.Uint64(ans[:8]))
	r.Seconds = time.Duration(binary.BigEndian.Uint64(ans[8:])).Seconds()
	if r.Seconds > 0 {
		r.Gbps = float64(r.Bytes) * 8 / r.Seconds / 1e9
	}
	return r, nil
}
