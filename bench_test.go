package nslab_test

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/nslab/nslab"
	"github.com/nslab/nslab/nslabtest"
	"github.com/nslab/nslab/topology"
)

// three is a lab of three nodes on a bridge, named name.
func three(b testing.TB, name string) *topology.Lab {
	bl := topology.NewBuilder(name)
	bl.Bridge("lan").Subnets("10.4.0.0/24")
	for _, n := range []string{"a", "b", "c"} {
		bl.Node(n).Interface("eth0", "lan")
	}
	t, err := bl.Lab()
	if err != nil {
		b.Fatal(err)
	}
	return t
}

// median reports the median of the durations as ms-median.
func median(b *testing.B, ds []time.Duration) {
	slices.Sort(ds)
	b.ReportMetric(float64(ds[len(ds)/2].Microseconds())/1000, "ms-median")
}

// microMedian reports the median of the durations as µs-median.
func microMedian(b *testing.B, ds []time.Duration) {
	slices.Sort(ds)
	b.ReportMetric(float64(ds[len(ds)/2].Nanoseconds())/1000, "µs-median")
}

// BenchmarkStartClose: nslab.Start and Close of a three-node lab, from
// Go; ms-median is the median of both together.
func BenchmarkStartClose(b *testing.B) {
	nslabtest.RequireRoot(b)
	ctx := context.Background()
	var ds, starts []time.Duration
	for b.Loop() {
		name := nslabtest.Name("lh-bench")
		nslabtest.CheckLeaksAtEnd(b, name)
		t0 := time.Now()
		l, err := nslab.Start(ctx, three(b, name), nslab.Options{})
		if err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		if err := l.Close(); err != nil {
			b.Fatal(err)
		}
		ds = append(ds, time.Since(t0))
		starts = append(starts, t1.Sub(t0))
	}
	median(b, ds)
	slices.Sort(starts)
	b.ReportMetric(float64(starts[len(starts)/2].Microseconds())/1000, "ms-start-median")
}

// dialLab starts a three-node lab whose node a accepts and closes
// connections on port 7.
func dialLab(b *testing.B) *nslab.Lab {
	l := nslabtest.Start(b, three(b, "lh-dial"))
	ln, err := l.Node("a").Listen("tcp", ":7")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	return l
}

// BenchmarkDial: a TCP connection from node b to node a, made and
// closed, four ways: net.Dial on a thread that stays in b (the baseline:
// no namespace switch per dial), Node.Dial to a's address, and to a's
// name (the lab's hosts file read each time).
func BenchmarkDial(b *testing.B) {
	nslabtest.RequireRoot(b)
	l := dialLab(b)
	node := l.Node("b")
	ips, err := node.Lookup("a")
	if err != nil {
		b.Fatal(err)
	}
	addr := net.JoinHostPort(ips[0].String(), "7")
	b.Run("net.Dial-inside-b", func(b *testing.B) {
		var ds []time.Duration
		err := node.Do(func() error {
			for b.Loop() {
				t0 := time.Now()
				c, err := net.Dial("tcp", addr)
				if err != nil {
					return err
				}
				ds = append(ds, time.Since(t0))
				c.Close()
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
		microMedian(b, ds)
	})
	for _, target := range []string{addr, "a:7"} {
		b.Run("Node.Dial-"+target, func(b *testing.B) {
			var ds []time.Duration
			for b.Loop() {
				t0 := time.Now()
				c, err := node.Dial("tcp", target)
				if err != nil {
					b.Fatal(err)
				}
				ds = append(ds, time.Since(t0))
				c.Close()
			}
			microMedian(b, ds)
		})
	}
}

// BenchmarkCommand: /bin/true started and waited for, three ways: on the
// host (exec.Cmd, the baseline), in node a with Node.Command, and with
// nslab exec (a process of its own that enters the node: the CLI's way,
// built with cgo's fast path as go build makes it).
func BenchmarkCommand(b *testing.B) {
	nslabtest.RequireRoot(b)
	l := nslabtest.Start(b, three(b, "lh-cmd"))
	ctx := context.Background()
	bin := filepath.Join(b.TempDir(), "nslab")
	if out, err := exec.Command("go", "build", "-o", bin, "./cmd/nslab").CombinedOutput(); err != nil {
		b.Fatalf("building nslab: %v\n%s", err, out)
	}
	run := func(name string, cmd func() interface{ Run() error }) {
		b.Run(name, func(b *testing.B) {
			var ds []time.Duration
			for b.Loop() {
				t0 := time.Now()
				if err := cmd().Run(); err != nil {
					b.Fatal(err)
				}
				ds = append(ds, time.Since(t0))
			}
			median(b, ds)
		})
	}
	run("host-exec.Cmd", func() interface{ Run() error } { return exec.Command("/bin/true") })
	run("Node.Command", func() interface{ Run() error } { return l.Node("a").Command(ctx, "/bin/true") })
	run("nslab-exec", func() interface{ Run() error } {
		c := exec.Command(bin, "exec", l.Node("a").Netns(), "--", "/bin/true")
		c.Stderr = os.Stderr
		return c
	})
}
