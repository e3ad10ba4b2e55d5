package topology

import (
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// checkServiceRules checks that the services of an accepted lab keep the
// rules of docs/format.md: what the supervisor and up may rely on.
func checkServiceRules(l *Lab) error {
	byRef := map[string]*Service{}
	for _, n := range l.Nodes {
		for _, s := range n.Services {
			byRef[s.Ref()] = s
		}
	}
	var errs []error
	for _, n := range l.Nodes {
		if !slices.IsSortedFunc(n.Services, func(a, b *Service) int { return strings.Compare(a.Name, b.Name) }) {
			errs = append(errs, fmt.Errorf("node %s: services not sorted", n.Name))
		}
		for _, s := range n.Services {
			if err := checkService(s, n, byRef); err != nil {
				errs = append(errs, fmt.Errorf("service %s: %w", s.Ref(), err))
			}
		}
	}
	if err := acyclic(byRef); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func checkService(s *Service, n *Node, byRef map[string]*Service) error {
	switch {
	case s.Node != n.Name || ValidServiceName(s.Name) != nil:
		return fmt.Errorf("bad node or name")
	case checkCommand(s.Command, s.Shell) != nil:
		return checkCommand(s.Command, s.Shell)
	case s.Dir != "" && (!filepath.IsAbs(s.Dir) || filepath.Clean(s.Dir) != s.Dir):
		return fmt.Errorf("dir %q", s.Dir)
	case s.User != "" && ValidUser(s.User) != nil:
		return fmt.Errorf("user %q", s.User)
	case !slices.Contains(restarts, s.Restart):
		return fmt.Errorf("restart %q", s.Restart)
	case !slices.Contains(Signals, s.StopSignal):
		return fmt.Errorf("stop signal %q", s.StopSignal)
	case s.StopGrace <= 0 || s.StopGrace > MaxStopGrace:
		return fmt.Errorf("stop grace %v", s.StopGrace)
	case s.Pos.Line == 0 || s.CommandPos.Line == 0:
		return fmt.Errorf("no position")
	}
	keys := map[string]bool{}
	for _, kv := range s.Env {
		k, _, ok := strings.Cut(kv, "=")
		if !ok || validEnvName(k) != nil || keys[k] || strings.IndexByte(kv, 0) >= 0 {
			return fmt.Errorf("env %q", kv)
		}
		keys[k] = true
	}
	for _, a := range s.After {
		if t := byRef[a.String()]; t == nil || t == s || a.Pos.Line == 0 {
			return fmt.Errorf("after %s", a)
		}
	}
	if s.Ready != nil {
		return checkReady(s.Ready)
	}
	return nil
}

func checkCommand(argv []string, shell bool) error {
	switch {
	case len(argv) == 0 || strings.TrimSpace(argv[0]) == "":
		return fmt.Errorf("empty command %q", argv)
	case shell && (len(argv) != 3 || argv[0] != ShellPath || argv[1] != "-c" || strings.TrimSpace(argv[2]) == ""):
		return fmt.Errorf("shell command %q", argv)
	case slices.ContainsFunc(argv, func(a string) bool { return strings.IndexByte(a, 0) >= 0 }):
		return fmt.Errorf("NUL in %q", argv)
	}
	return nil
}

func checkReady(r *Ready) error {
	kinds := 0
	if r.TCP != "" {
		kinds++
		ap, err := netip.ParseAddrPort(r.TCP)
		if err != nil || ap.Port() == 0 || ap.Addr().IsUnspecified() || ap.Addr().IsMulticast() {
			return fmt.Errorf("ready tcp %q", r.TCP)
		}
	}
	if r.HTTP != "" {
		kinds++
		u, err := url.Parse(r.HTTP)
		if err != nil || u.Scheme != "http" || u.User != nil {
			return fmt.Errorf("ready http %q", r.HTTP)
		}
		if _, err := netip.ParseAddr(u.Hostname()); err != nil {
			return fmt.Errorf("ready http %q: host is not an address", r.HTTP)
		}
	}
	if r.Command != nil {
		kinds++
		if err := checkCommand(r.Command, r.Shell); err != nil {
			return fmt.Errorf("ready: %w", err)
		}
	}
	switch {
	case kinds != 1:
		return fmt.Errorf("ready has %d checks", kinds)
	case r.Timeout <= 0 || r.Timeout > MaxReadyTimeout || r.Interval < MinReadyInterval && r.Interval != r.Timeout || r.Interval > r.Timeout:
		return fmt.Errorf("ready timeout %v interval %v", r.Timeout, r.Interval)
	}
	return nil
}

// acyclic checks that no services wait for each other, by removing
// services that wait for none until none is left (Kahn).
func acyclic(byRef map[string]*Service) error {
	waits := map[*Service]int{}
	waiters := map[*Service][]*Service{}
	var ready []*Service
	for _, s := range byRef {
		waits[s] = len(s.After)
		for _, a := range s.After {
			waiters[byRef[a.String()]] = append(waiters[byRef[a.String()]], s)
		}
		if len(s.After) == 0 {
			ready = append(ready, s)
		}
	}
	done := 0
	for len(ready) > 0 {
		s := ready[len(ready)-1]
		ready = ready[:len(ready)-1]
		done++
		for _, w := range waiters[s] {
			if waits[w]--; waits[w] == 0 {
				ready = append(ready, w)
			}
		}
	}
	if done != len(byRef) {
		return fmt.Errorf("%d services wait for each other in cycles", len(byRef)-done)
	}
	return nil
}

// FuzzServices fills the keys of two services with fuzzed strings, each
// written as a double-quoted YAML string, so that the fuzzer works on the
// values rather than on YAML syntax.
func FuzzServices(f *testing.F) {
	type seed struct{ name, cmd, arg, envKey, envVal, dir, user, restart, tcp, http, timeout, interval, after, signal, grace string }
	ok := seed{"api", "sleep", "infinity", "LOG", "debug", "/srv", "nobody", "on-failure", "9000", "http://127.0.0.1:9000/health",
		"30s", "100ms", "b/db", "INT", "5s"}
	seeds := []seed{ok}
	for _, edit := range []func(*seed){
		func(s *seed) { s.after = "api" },
		func(s *seed) { s.after = "b/db/x" },
		func(s *seed) { s.name, s.after = "a/b", "" },
		func(s *seed) { s.cmd = "" },
		func(s *seed) { s.cmd = " x" },
		func(s *seed) { s.arg = "a\x00b" },
		func(s *seed) { s.envKey, s.envVal = "1X", "" },
		func(s *seed) { s.dir = "../etc" },
		func(s *seed) { s.user = "4294967295" },
		func(s *seed) { s.user = "0777" },
		func(s *seed) { s.restart = "No" },
		func(s *seed) { s.tcp = "[fe80::1%eth0]:80" },
		func(s *seed) { s.tcp = "0.0.0.0:80" },
		func(s *seed) { s.tcp = "localhost:0" },
		func(s *seed) { s.http = "http://[::1]:99999/" },
		func(s *seed) { s.http = "http://user:pw@127.0.0.1/" },
		func(s *seed) { s.http = "http://localhost" },
		func(s *seed) { s.http = "http:127.0.0.1" },
		func(s *seed) { s.timeout, s.interval = "1ns", "1ns" },
		func(s *seed) { s.timeout, s.interval = "-1s", "2h" },
		func(s *seed) { s.signal = "sigkill" },
		func(s *seed) { s.signal = "SIGSTOP" },
		func(s *seed) { s.grace = "1e9h" },
	} {
		s := ok
		edit(&s)
		seeds = append(seeds, s)
	}
	for _, s := range seeds {
		f.Add(s.name, s.cmd, s.arg, s.envKey, s.envVal, s.dir, s.user, s.restart, s.tcp, s.http, s.timeout, s.interval, s.after, s.signal, s.grace)
	}
	f.Fuzz(func(t *testing.T, name, cmd, arg, envKey, envVal, dir, user, restart, tcp, http, timeout, interval, after, signal, grace string) {
		q := yamlQuote
		data := []byte(fmt.Sprintf(`name: fz
nodes:
  a:
    services:
      %s:
        command: [%s, %s]
        env: {%s: %s}
        dir: %s
        user: %s
        restart: %s
        ready: {tcp: %s, timeout: %s, interval: %s}
        after: [%s]
        stop: {signal: %s, grace: %s}
      web:
        command: %s
        ready: {http: %s}
  b:
    services:
      db: {command: %s, after: [a/web]}
`, q(name), q(cmd), q(arg), q(envKey), q(envVal), q(dir), q(user), q(restart), q(tcp), q(timeout), q(interval),
			q(after), q(signal), q(grace), q(cmd+" "+arg), q(http), q(arg)))
		parsed, err := Parse("fuzz.yaml", data)
		if *fuzzLog {
			t.Logf("%v", err)
		}
		checkResult(t, data, parsed, err)
	})
}

var fuzzLog = flag.Bool("fuzzlog", false, "log the result of each input of FuzzServices")
