// Command nslab-vm runs a program, typically a compiled test binary,
// inside a stock kernel under qemu (see internal/stockvm), for the tests
// that need a kernel feature the host lacks. As go test's -exec:
//
//	go build -o /tmp/nslab-vm ./cmd/nslab-vm
//	go test -exec /tmp/nslab-vm -run 'TestShape' ./lab
//
// It boots one VM per binary, prints the binary's output, and exits with
// its status. Environment variables named NSLAB_* and GO* pass into the
// guest. It needs root (9p of the host's root) and qemu-system-x86,
// linux-image-amd64 and busybox-static installed.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/nslab/nslab/internal/stockvm"
)

func main() {
	if len(os.Args) < 2 || strings.HasPrefix(os.Args[1], "-") {
		fmt.Fprintln(os.Stderr, "usage: nslab-vm BINARY [ARG...]\n\nruns BINARY in a stock kernel under qemu; as go test -exec nslab-vm")
		os.Exit(2)
	}
	s, err := stockvm.Find()
	if err != nil {
		fmt.Fprintln(os.Stderr, "nslab-vm:", err)
		os.Exit(1)
	}
	dir, _ := os.Getwd()
	var env []string
	for _, e := range os.Environ() {
		if strings.HasPrefix(e, "NSLAB_") || strings.HasPrefix(e, "GO") {
			env = append(env, e)
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	res, err := s.Run(ctx, stockvm.Job{
		Binary: os.Args[1], Args: os.Args[2:], Dir: dir, Env: env, Out: os.Stdout,
		Logf: func(f string, a ...any) { fmt.Fprintf(os.Stderr, "nslab-vm: "+f+"\n", a...) },
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "nslab-vm:", err)
		os.Exit(1)
	}
	os.Exit(res.Exit)
}
