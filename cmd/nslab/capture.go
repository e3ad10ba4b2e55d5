package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/nslab/nslab/capture"
	"github.com/nslab/nslab/kernel"
	"github.com/nslab/nslab/lab"
	"github.com/nslab/nslab/plan"
	"github.com/nslab/nslab/topology"
	"github.com/spf13/cobra"
)

func newCapture() *cobra.Command {
	var file string
	var far bool
	var snaplen, count int
	cmd := &cobra.Command{
		Use:         "capture NODE:IF|BRIDGE [FILTER...]",
		Annotations: privileged(),
		Short:       "Capture the packets of a lab's interface as pcap, no tcpdump needed",
		Long: `Capture what an interface of a running lab sends and receives, as a pcap
file (nanosecond timestamps) that tcpdump, Wireshark and tshark read. nslab
captures itself, with a packet socket in the node's namespace: nothing needs
to be installed in the lab.

What to capture: NODE:IF (LAB.NODE:IF when the node name is not unique), a
host interface LAB.host:NAME, or a bridge (BRIDGE or LAB.BRIDGE: what
crosses the bridge's own host side). --far captures at the other end of
NODE:IF's cable instead: the bridge port in the root namespace, or the
peer's interface.

FILTER is a tcpdump-style expression, run in the kernel so that nothing
else is copied: ether, ip, ip6, arp, icmp, icmp6, tcp, udp,
[src|dst] host ADDR|NODE (a node's name stands for its addresses; nothing
is looked up in DNS), [src|dst] net CIDR, [tcp|udp] [src|dst] port N,
ether [src|dst] host MAC, joined with and, or, not and parentheses.

Packets go to standard output, or to -w FILE. Ctrl-C (or -c N packets)
ends the capture; nslab then says how many packets it captured on
standard error. A reader that closes the pipe ends it as well.`,
		Example: `  sudo nslab capture h1:eth0 -w ping.pcap icmp
  sudo nslab capture h1:eth0 | wireshark -k -i -
  sudo nslab capture r1:east -c 10 'tcp port 80 and host h2' | tshark -r -
  sudo nslab capture lan1                        # the bridge's host side
  sudo nslab capture --far h1:eth0 arp           # at h1's bridge port`,
		Args:              args(cobra.MinimumNArgs(1)),
		ValidArgsFunction: completeIfaces,
		RunE: func(cmd *cobra.Command, a []string) error {
			if snaplen < 64 || snaplen > 262144 {
				return &usageError{fmt.Errorf("--snaplen %d: use 64 to 262144", snaplen)}
			}
			return runCapture(cmd.Context(), file, a[0], strings.Join(a[1:], " "), far, snaplen, count)
		},
	}
	cmd.Flags().StringVarP(&file, "write", "w", "-", "the pcap file to write; - for standard output")
	cmd.Flags().BoolVar(&far, "far", false, "capture at the other end of the cable of NODE:IF")
	cmd.Flags().IntVarP(&snaplen, "snaplen", "s", 262144, "bytes kept of each packet")
	cmd.Flags().IntVarP(&count, "count", "c", 0, "stop after this many packets (0: until Ctrl-C)")
	return cmd
}

// captureOutput opens where the packets go.
func captureOutput(file string) (io.Writer, func(), error) {
	if file == "-" {
		return os.Stdout, func() {}, nil
	}
	f, err := os.Create(file)
	if err != nil {
		return nil, nil, err
	}
	return f, func() { f.Close() }, nil
}

// captureTarget resolves what to capture to a lab, the topology's name
// for it (NODE:IF or a bridge) and the lab's topology.
func captureTarget(ref string) (*topology.Lab, string, error) {
	var labName, what string
	if strings.Contains(ref, ":") {
		l, node, iface, err := parseIface(ref)
		if err != nil {
			return nil, "", err
		}
		labName, what = l, node+":"+iface
	} else if l, b, ok := plan.SplitNetnsName(ref); ok {
		labName, what = l, b
	} else {
		names, err := lab.Names()
		if err != nil {
			return nil, "", err
		}
		var found []string
		for _, l := range names {
			if t, err := lab.Topology(l); err == nil && t.Bridge(ref) != nil {
				found = append(found, l)
			}
		}
		switch len(found) {
		case 0:
			return nil, "", fmt.Errorf("%q: no running lab has a bridge of that name; capture NODE:IF, LAB.host:NAME or a bridge", ref)
		case 1:
			labName, what = found[0], ref
		default:
			return nil, "", fmt.Errorf("bridge %s is in several labs; name one of: %s.%s", ref, strings.Join(found, "."+ref+", "), ref)
		}
	}
	t, err := lab.Topology(labName)
	if err != nil {
		return nil, "", err
	}
	return t, what, nil
}

// nodeAddrs maps each node of t to its addresses, for host NODE in
// filters.
func nodeAddrs(t *topology.Lab) map[string][]netip.Addr {
	out := map[string][]netip.Addr{}
	for _, n := range t.Nodes {
		out[n.Name] = []netip.Addr{}
		for _, i := range n.Interfaces {
			for _, p := range i.Addresses {
				out[n.Name] = append(out[n.Name], p.Addr())
			}
		}
	}
	return out
}

// runCapture captures ref's packets into file; the file is made once the
// capture is open, so that a mistake leaves none behind.
func runCapture(ctx context.Context, file, ref, expr string, far bool, snaplen, count int) error {
	if file == "-" && isTerminal(os.Stdout) {
		return &usageError{errors.New("standard output is a terminal: write to a file with -w FILE, or pipe into tshark -r - or wireshark -k -i -")}
	}
	t, what, err := captureTarget(ref)
	if err != nil {
		return err
	}
	ns, name, err := plan.CaptureEnd(t, what, far)
	if err != nil {
		return err
	}
	prog, err := capture.Compile(expr, uint32(snaplen), nodeAddrs(t))
	if err != nil {
		return &usageError{err}
	}
	c, err := kernel.OpenCapture(ns, name, prog)
	if err != nil {
		return err
	}
	defer c.Close()
	out, closeOut, err := captureOutput(file)
	if err != nil {
		return err
	}
	defer closeOut()
	// A closed pipe makes writes fail with EPIPE instead of killing nslab.
	pipe := make(chan os.Signal, 1)
	signal.Notify(pipe, syscall.SIGPIPE)
	defer signal.Stop(pipe)

	where := name
	if ns != "" {
		where = ns + " " + name
	}
	if expr != "" {
		expr = ", filter: " + expr
	}
	if far {
		what = "the far end of " + what
	}
	logf("capturing on %s of lab %s (%s)%s; Ctrl-C ends", what, t.Name, where, expr)
	n, dropped, err := capturePackets(ctx, c, out, snaplen, count)
	msg := fmt.Sprintf("%d packets captured", n)
	if n == 1 {
		msg = "1 packet captured"
	}
	if dropped > 0 {
		msg += fmt.Sprintf(", %d dropped by the kernel", dropped)
	}
	fmt.Fprintln(os.Stderr, msg)
	if errors.Is(err, syscall.EPIPE) {
		return nil // the reader is gone: the end, as with tcpdump | head
	}
	return err
}

func capturePackets(ctx context.Context, c *kernel.Capture, out io.Writer, snaplen, count int) (n, dropped int, err error) {
	bw := bufio.NewWriterSize(out, 64<<10)
	defer func() {
		if ferr := bw.Flush(); err == nil {
			err = ferr
		}
		dropped += c.Dropped()
	}()
	w, err := capture.NewWriter(bw, uint32(snaplen), capture.LinkTypeEthernet)
	if err != nil {
		return 0, 0, err
	}
	if err := bw.Flush(); err != nil {
		return 0, 0, err
	}
	buf := make([]byte, snaplen)
	for ctx.Err() == nil && (count == 0 || n < count) {
		got, length, ts, err := c.Read(buf)
		if errors.Is(err, kernel.ErrNoPacket) {
			dropped += c.Dropped()
			if err := bw.Flush(); err != nil {
				return n, dropped, err
			}
			continue
		}
		if err != nil {
			return n, dropped, err
		}
		if err := w.WritePacket(ts, buf[:got], length); err != nil {
			return n, dropped, err
		}
		n++
		if err := bw.Flush(); err != nil { // a live reader sees each packet at once
			return n, dropped, err
		}
	}
	return n, dropped, nil
}
