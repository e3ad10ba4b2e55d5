package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
	"github.com/nslab/nslab/check"
	"github.com/nslab/nslab/kernel"
	"github.com/nslab/nslab/nslabtest"
)

// lockedBuffer is a bytes.Buffer that a running command writes while the
// test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startCapture runs nslab capture in the background; stop ends it with
// Ctrl-C's signal and returns its stderr.
func startCapture(t *testing.T, args ...string) (stop func() string) {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"capture"}, args...)...)
	stderr := &lockedBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := false
	t.Cleanup(func() {
		if !done {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	// Ready when it says so on stderr.
	for i := 0; i < 100 && !strings.Contains(stderr.String(), "Ctrl-C ends"); i++ {
		time.Sleep(50 * time.Millisecond)
	}
	return func() string {
		cmd.Process.Signal(syscall.SIGINT)
		err := cmd.Wait()
		done = true
		if err != nil {
			t.Errorf("capture %q: %v: %s", args, err, stderr.String())
		}
		return stderr.String()
	}
}

type packet struct {
	icmp, udp bool
	echo      string // "request" or "reply"
	src, dst  string
}

func readPcap(t *testing.T, file string) []packet {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := pcapgo.NewReader(f)
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	var out []packet
	for {
		data, _, err := r.ReadPacketData()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		pk := gopacket.NewPacket(data, layers.LayerTypeEthernet, gopacket.Default)
		var p packet
		if ip, ok := pk.Layer(layers.LayerTypeIPv4).(*layers.IPv4); ok {
			p.src, p.dst = ip.SrcIP.String(), ip.DstIP.String()
		}
		if ic, ok := pk.Layer(layers.LayerTypeICMPv4).(*layers.ICMPv4); ok {
			p.icmp = true
			switch ic.TypeCode.Type() {
			case layers.ICMPv4TypeEchoRequest:
				p.echo = "request"
			case layers.ICMPv4TypeEchoReply:
				p.echo = "reply"
			}
		}
		p.udp = pk.Layer(layers.LayerTypeUDP) != nil && !p.icmp
		out = append(out, p)
	}
}

// TestCapture pings ns2 from ns1 and sends it UDP while three captures
// run: one on ns1:eth0 with the filter "icmp and dst host ns2" (a node
// name for its address), one there without a filter, one at the bridge
// port of ns1's cable (--far). Read back with gopacket's pcapgo: the
// filtered file holds the echo requests only, the other two hold what
// the filter left out too. tshark, when installed, opens the file.
func TestCapture(t *testing.T) {
	nslabtest.RequireRoot(t)
	subnet := nslabtest.Subnet(t)
	name := nslabtest.Name("see")
	dir := t.TempDir()
	file := filepath.Join(dir, name+".yaml")
	yaml := fmt.Sprintf("name: %s\nbridges:\n  br0: {}\nnodes:\n  ns1: {interfaces: {eth0: {link: br0, addresses: [%[2]s.2/24]}}}\n  ns2: {interfaces: {eth0: {link: br0, addresses: [%[2]s.3/24]}}}\n", name, subnet)
	if err := os.WriteFile(file, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	if r := nslab(t, "", "up", file); r.code != 0 {
		t.Fatalf("up: %s", r.stderr)
	}
	t.Cleanup(func() {
		if r := nslab(t, "", "down", "--lab", name); r.code != 0 {
			t.Errorf("down: %s", r.stderr)
		}
		nslabtest.CheckLeaks(t, name)
	})
	filtered, all, port := filepath.Join(dir, "f.pcap"), filepath.Join(dir, "a.pcap"), filepath.Join(dir, "p.pcap")
	stops := []func() string{
		startCapture(t, name+".ns1:eth0", "-w", filtered, "icmp", "and", "dst", "host", "ns2"),
		startCapture(t, name+".ns1:eth0", "-w", all),
		startCapture(t, "--far", name+".ns1:eth0", "-w", port, "icmp"),
	}
	ns2 := netip.MustParseAddr(subnet + ".3")
	for i := 0; i < 3; i++ {
		res := check.Ping(context.Background(), kernel.NetnsPath(name+".ns1"), []check.Target{{Addr: ns2}}, check.Options{Count: 1, Timeout: 2 * time.Second})
		if !res[0].OK {
			t.Fatalf("ping %s: %s", ns2, res[0].Err)
		}
	}
	for i := 0; i < 2; i++ {
		nslabtest.IP(t, "netns", "exec", name+".ns1", "bash", "-c", "echo hi > /dev/udp/"+ns2.String()+"/9")
	}
	time.Sleep(300 * time.Millisecond)
	var logs []string
	for _, stop := range stops {
		logs = append(logs, stop())
	}

	got := readPcap(t, filtered)
	if len(got) < 3 {
		t.Errorf("filtered capture: %d packets, want the 3 echo requests (%s)", len(got), logs[0])
	}
	for _, p := range got {
		if p.echo != "request" || p.dst != ns2.String() {
			t.Errorf("filtered capture holds %+v: the filter let it through", p)
		}
	}
	if want := fmt.Sprintf("%d packets captured", len(got)); !strings.Contains(logs[0], want) {
		t.Errorf("stderr %q does not say %q", logs[0], want)
	}
	count := func(ps []packet, f func(packet) bool) (n int) {
		for _, p := range ps {
			if f(p) {
				n++
			}
		}
		return n
	}
	everything := readPcap(t, all)
	if n := count(everything, func(p packet) bool { return p.udp }); n < 2 {
		t.Errorf("unfiltered capture: %d UDP packets, want 2", n)
	}
	if n := count(everything, func(p packet) bool { return p.echo == "reply" }); n < 3 {
		t.Errorf("unfiltered capture: %d echo replies, want 3", n)
	}
	atPort := readPcap(t, port)
	if r, q := count(atPort, func(p packet) bool { return p.echo == "reply" }), count(atPort, func(p packet) bool { return p.echo == "request" }); r < 3 || q < 3 || len(atPort) != r+q+count(atPort, func(p packet) bool { return p.icmp && p.echo == "" }) {
		t.Errorf("at the bridge port: %d requests, %d replies of %d packets (%s)", q, r, len(atPort), logs[2])
	}
	if tshark, err := exec.LookPath("tshark"); err == nil {
		out, err := exec.Command(tshark, "-r", filtered).CombinedOutput()
		if err != nil || strings.Count(string(out), "Echo (ping) request") != len(got) {
			t.Errorf("tshark -r: %v\n%s", err, out)
		}
	} else {
		t.Log("tshark is not installed: the file was read by pcapgo only")
	}
}

// TestCaptureClosedPipe: a reader that closes the pipe after the file
// header (as head -c 24 does) ends the capture at the next packet, with
// exit status 0 and the count on stderr, not a death by SIGPIPE.
func TestCaptureClosedPipe(t *testing.T) {
	nslabtest.RequireRoot(t)
	subnet := nslabtest.Subnet(t)
	name := nslabtest.Name("see")
	file := filepath.Join(t.TempDir(), name+".yaml")
	yaml := fmt.Sprintf("name: %s\nnodes:\n  ns1: {interfaces: {eth0: {link: ns2:eth0, addresses: [%[2]s.1/30]}}}\n  ns2: {interfaces: {eth0: {addresses: [%[2]s.2/30]}}}\n", name, subnet)
	if err := os.WriteFile(file, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	if r := nslab(t, "", "up", file); r.code != 0 {
		t.Fatalf("up: %s", r.stderr)
	}
	t.Cleanup(func() {
		if r := nslab(t, "", "down", "--lab", name); r.code != 0 {
			t.Errorf("down: %s", r.stderr)
		}
		nslabtest.CheckLeaks(t, name)
	})
	cmd := exec.Command(bin, "capture", name+".ns1:eth0", "icmp")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr := &lockedBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	header := make([]byte, 24)
	if _, err := io.ReadFull(stdout, header); err != nil {
		t.Fatalf("reading the pcap header: %v (%s)", err, stderr.String())
	}
	stdout.Close()
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	ns2 := netip.MustParseAddr(subnet + ".2")
	for i := 0; i < 20; i++ {
		check.Ping(context.Background(), kernel.NetnsPath(name+".ns1"), []check.Target{{Addr: ns2}}, check.Options{Count: 1, Timeout: time.Second})
		wait := 200 * time.Millisecond
		if i == 19 {
			wait = 5 * time.Second
		}
		select {
		case err := <-exited:
			if err != nil || !regexp.MustCompile(`(?m)^\d+ packets? captured$`).MatchString(stderr.String()) {
				t.Errorf("after the pipe closed: %v, stderr %q; want exit 0 and the count", err, stderr.String())
			}
			return
		case <-time.After(wait):
		}
	}
	cmd.Process.Kill()
	t.Fatalf("capture still runs 20 pings after its reader closed the pipe: %s", stderr.String())
}

// TestCaptureErrors: what is wrong is said before anything is captured.
func TestCaptureErrors(t *testing.T) {
	nslabtest.RequireRoot(t)
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"nolab.nonode:eth0"}, 1, "no node nolab.nonode"},
		{[]string{"nosuchbridge"}, 1, "no running lab has a bridge"},
		{[]string{"x:y", "-s", "10"}, 2, "--snaplen 10"},
	} {
		out := filepath.Join(t.TempDir(), "out.pcap")
		r := nslab(t, "", append([]string{"capture", "-w", out}, c.args...)...)
		if r.code != c.code || !strings.Contains(r.stderr, c.want) {
			t.Errorf("capture %q: %d %q, want %d and %q", c.args, r.code, r.stderr, c.code, c.want)
		}
		if _, err := os.Stat(out); err == nil {
			t.Errorf("capture %q failed and left %s", c.args, out)
		}
	}
}
