package service

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/nslab/nslab/kernel"
)

// probe tries v's readiness check every interval until it passes, then
// tells the supervisor; the supervisor's deadline ends it otherwise.
func (s *sup) probe(ctx context.Context, v *svc, epoch int) {
	r := v.def.Ready
	interval := cmpOr(r.Interval, 100*time.Millisecond)
	for {
		err := s.probeOnce(ctx, v.def, interval)
		if err == nil {
			s.ev <- probeEv{s: v, epoch: epoch}
			return
		}
		msg := err.Error()
		v.lastProbe.Store(&msg)
		select {
		case <-ctx.Done():
			return
		case <-time.After(interval):
		}
	}
}

// probeSlots bounds the checks tried at once: each holds an OS thread
// inside its node while it connects, and a thousand services starting
// together would hold a thousand.
var probeSlots = make(chan struct{}, 32)

// probeTimeout bounds one try of a check.
func probeTimeout(interval time.Duration) time.Duration { return max(interval, time.Second) }

// probeOnce runs d's check once inside its node: a TCP connect or HTTP
// GET through a socket opened in the node's network namespace, or the
// command (started there as the service is).
func (s *sup) probeOnce(ctx context.Context, d Def, interval time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, probeTimeout(interval))
	defer cancel()
	select {
	case probeSlots <- struct{}{}:
		defer func() { <-probeSlots }()
	case <-ctx.Done():
		return fmt.Errorf("no try within %v: too many checks at once", probeTimeout(interval))
	}
	r := d.Ready
	switch {
	case r.TCP != "":
		addr := r.TCP
		if !strings.Contains(addr, ":") {
			addr = "127.0.0.1:" + addr
		}
		c, err := dialIn(ctx, d.Netns, "tcp", addr)
		if err != nil {
			return fmt.Errorf("tcp %s: %w", addr, unwrapOp(err))
		}
		c.Close()
		return nil
	case r.HTTP != "":
		tr := &http.Transport{DisableKeepAlives: true, Proxy: nil,
			DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				return dialIn(ctx, d.Netns, network, addr)
			}}
		defer tr.CloseIdleConnections()
		req, err := http.NewRequestWithContext(ctx, "GET", r.HTTP, nil)
		if err != nil {
			return err
		}
		resp, err := (&http.Client{Transport: tr}).Do(req)
		if err != nil {
			return fmt.Errorf("GET %s: %w", r.HTTP, unwrapOp(unwrapURL(err)))
		}
		resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			return fmt.Errorf("GET %s: %s", r.HTTP, resp.Status)
		}
		return nil
	case len(r.Command) > 0:
		return s.probeCommand(ctx, d)
	}
	return nil
}

// unwrapOp drops what net's errors repeat ("dial tcp ADDR: connect:").
func unwrapOp(err error) error {
	var oe *net.OpError
	if errors.As(err, &oe) {
		if se, ok := oe.Err.(*os.SyscallError); ok {
			return se.Err
		}
		return oe.Err
	}
	return err
}

func unwrapURL(err error) error {
	var ue interface{ Unwrap() error }
	if errors.As(err, &ue) && ue.Unwrap() != nil {
		return ue.Unwrap()
	}
	return err
}

// dialIn connects from inside the namespace ns: the socket is made on a
// thread in it and keeps it for life. It never looks a name up (no query
// to any resolver): the address is an IP address, or localhost, taken as
// 127.0.0.1.
func dialIn(ctx context.Context, ns, network, addr string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	if host == "localhost" {
		host = "127.0.0.1"
	}
	if net.ParseIP(host) == nil {
		return nil, fmt.Errorf("%s: not an IP address (a check looks no name up)", host)
	}
	addr = net.JoinHostPort(host, port)
	var c net.Conn
	err = kernel.Do(kernel.NetnsPath(ns), func() error {
		var err error
		c, err = (&net.Dialer{}).DialContext(ctx, network, addr)
		return err
	})
	return c, err
}

// probeCommand runs the check's command in the node, as the service's
// user, with its output appended to the service's log.
func (s *sup) probeCommand(ctx context.Context, d Def) error {
	cmd, err := s.command(&svc{def: Def{Node: d.Node, Name: d.Name, Netns: d.Netns, Command: d.Ready.Command,
		Env: d.Env, Dir: d.Dir, User: d.User}})
	if err != nil {
		return err
	}
	out := cmd.Stdout.(*os.File)
	err = kernel.StartFrom(s.base, d.Netns, s.spec.Holder, cmd, s.spec.EtcFiles...)
	out.Close()
	if err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("%s: %w", strings.Join(d.Ready.Command, " "), err)
		}
		return nil
	case <-ctx.Done():
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
		return fmt.Errorf("%s: no answer in %v", strings.Join(d.Ready.Command, " "), ctx.Err())
	}
}
