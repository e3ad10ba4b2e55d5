package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nslab/nslab/nslabtest"
	"github.com/nslab/nslab/service"
)

// servicesFile writes a one-node lab whose node runs the given services
// (YAML under services:), and registers its down and leak check.
func servicesFile(t *testing.T, services string) (file, name string) {
	t.Helper()
	nslabtest.RequireRoot(t)
	subnet := nslabtest.Subnet(t)
	name = nslabtest.Name("svcetcd")
	file = filepath.Join(t.TempDir(), name+".yaml")
	text := fmt.Sprintf(`name: %s
bridges:
  br0: {addresses: [%[2]s.1/24]}
nodes:
  n1:
    interfaces:
      eth0: {link: br0, addresses: [%[2]s.2/24]}
    services:
%s`, name, subnet, services)
	if err := os.WriteFile(file, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	downAtEnd(t, name)
	return file, name
}

// background is an nslab command running in the background, its stdout
// going to a file read once it ends.
type background struct {
	cmd            *exec.Cmd
	stdout, stderr string
	done           chan struct{}
}

func inBackground(t *testing.T, args ...string) *background {
	t.Helper()
	dir := t.TempDir()
	b := &background{cmd: exec.Command(bin, args...), done: make(chan struct{}),
		stdout: filepath.Join(dir, "stdout"), stderr: filepath.Join(dir, "stderr")}
	out, _ := os.Create(b.stdout)
	errf, _ := os.Create(b.stderr)
	b.cmd.Stdout, b.cmd.Stderr = out, errf
	if err := b.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { b.cmd.Wait(); out.Close(); errf.Close(); close(b.done) }()
	t.Cleanup(func() { b.cmd.Process.Kill(); <-b.done })
	return b
}

// waitOpen waits until process pid has file open (10 s at most).
func waitOpen(t *testing.T, pid int, file string) {
	t.Helper()
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	deadline := time.Now().Add(10 * time.Second)
	for {
		fds, _ := os.ReadDir(dir)
		for _, fd := range fds {
			if target, _ := os.Readlink(filepath.Join(dir, fd.Name())); target == file {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("pid %d did not open %s in 10 s", pid, file)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// end waits up to limit for the command to end and returns its output
// and exit code.
func (b *background) end(t *testing.T, limit time.Duration) (stdout, stderr string, code int) {
	t.Helper()
	select {
	case <-b.done:
	case <-time.After(limit):
		t.Fatalf("nslab %s still runs %v later", strings.Join(b.cmd.Args[1:], " "), limit)
	}
	o, _ := os.ReadFile(b.stdout)
	e, _ := os.ReadFile(b.stderr)
	return string(o), string(e), b.cmd.ProcessState.ExitCode()
}

// TestLogsFollowAcrossRotation: a service prints 1.6 million numbered
// lines (11.7 MB, at once), more than a log holds (10 MiB), so the supervisor
// rotates it while logs -f follows. What logs -f printed runs in order
// with nothing twice, ends with the last line, and holds every line the
// log and its rotated file kept (a rotation keeps the log's last 10 MiB,
// and loses what is written between the copy and the truncation). logs -n and logs NODE read
// the end and prefix each line; logs -f ends on Ctrl-C, and by itself
// when the lab goes down.
func TestLogsFollowAcrossRotation(t *testing.T) {
	const last = 1_600_000
	// The numbers start once the test says so (the file "go" in the
	// node's directory), when both followers have the log open: under
	// load, a follower that started after a rotation began its output
	// inside the rotated copy (numbers | 15506 first, in a CI run). The
	// last lines come a second after the rest, when the rotation is
	// over: a copy and truncation after the last write would leave the
	// log empty, and one during it lose some of the last lines.
	file, name := servicesFile(t, fmt.Sprintf(`      numbers: {command: "while [ ! -e go ]; do sleep 0.05; done; seq 1 %d; sleep 1; seq %d %d; exec sleep infinity"}
      quiet: {command: "echo one; echo two; exec sleep infinity"}
`, last-100, last-99, last))
	if r := nslab(t, "", "up", file); r.code != 0 {
		t.Fatalf("up: code %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	node := name + ".n1"
	follow := inBackground(t, "logs", "-f", node+"/numbers")
	interrupted := inBackground(t, "logs", "-f", node)
	log := service.LogPath(name, "n1", "numbers")
	for _, b := range []*background{follow, interrupted} {
		waitOpen(t, b.cmd.Process.Pid, log)
	}
	if err := os.WriteFile(filepath.Join(service.NodeDir(name, "n1"), "go"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if ls, _ := lastLines(log); ls == strconv.Itoa(last) {
			break
		}
		if time.Now().After(deadline) {
			ls, err := lastLines(log)
			t.Fatalf("the service did not print %d lines in 30 s: its log ends with %q (%v)\n%s", last, ls, err, nslab(t, "", "status", name).stdout)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if _, err := os.Stat(log + ".1"); err != nil {
		t.Fatalf("the log was not rotated: %v", err)
	}
	time.Sleep(500 * time.Millisecond) // the follower's next looks

	// Ctrl-C ends a follower with status 0.
	interrupted.cmd.Process.Signal(syscall.SIGINT)
	out, errOut, code := interrupted.end(t, 5*time.Second)
	// (The log's first lines may be gone: seq writes 11.7 MB faster than
	// a follower's look every 100 ms, and the rotation keeps the last
	// 10 MiB; the other follower's gaps are counted below.)
	if code != 0 || !strings.HasPrefix(out, "numbers | ") && !strings.Contains(out, "\nnumbers | ") ||
		!strings.Contains(out, "quiet   | one\nquiet   | two\n") || !strings.HasSuffix(out, fmt.Sprintf("numbers | %d\n", last)) {
		t.Errorf("logs -f %s after Ctrl-C: code %d, want 0 and both services' lines prefixed\n%.300s\n%s", node, code, out, errOut)
	}

	r := nslab(t, "", "logs", "-n", "2", node+"/numbers")
	if want := fmt.Sprintf("%d\n%d\n", last-1, last); r.code != 0 || r.stdout != want {
		t.Errorf("logs -n 2: code %d, %q, want %q\n%s", r.code, r.stdout, want, r.stderr)
	}
	r = nslab(t, "", "logs", node+"/nothing")
	if want := "nslab: node " + node + " has no service nothing (its services: numbers, quiet)\n"; r.code != 1 || r.stderr != want {
		t.Errorf("logs of an unknown service: code %d, %q; want 1, %q", r.code, r.stderr, want)
	}
	kept := keptNumbers(t, log)

	// down removes the logs: the follower ends by itself.
	if r := nslab(t, "", "down", "-q", name); r.code != 0 {
		t.Fatalf("down: %s", r.stderr)
	}
	out, errOut, code = follow.end(t, 10*time.Second)
	if code != 0 {
		t.Errorf("logs -f after down: code %d, want 0\n%s", code, errOut)
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	seen := map[int]bool{}
	prev, gaps := 0, 0
	for i, l := range lines {
		n, err := strconv.Atoi(l)
		if err != nil || n <= prev {
			t.Fatalf("logs -f line %d: %q after %d: want numbers in order, none twice", i+1, l, prev)
		}
		if n != prev+1 {
			gaps++
			t.Logf("logs -f: %d lines lost between %d and %d (left out of the copy, or written between the copy and the truncation)", n-prev-1, prev, n)
		}
		seen[n], prev = true, n
	}
	if prev != last {
		t.Errorf("logs -f ended at %d, want %d", prev, last)
	}
	// One rotation loses at most two runs of lines: the log's start past
	// the cap that its copy leaves out, and what is written between the
	// copy and the truncation.
	if gaps > 2 {
		t.Errorf("logs -f skipped lines %d times, want at most twice, at the rotation", gaps)
	}
	missing := 0
	for _, n := range kept {
		if !seen[n] {
			missing++
		}
	}
	if missing > 0 {
		t.Errorf("logs -f lacks %d of the %d lines that the log and its rotated file kept", missing, len(kept))
	}
	t.Logf("logs -f printed %d lines of %d; the files kept %d", len(lines), last, len(kept))
}

// lastLines returns the last line of a file.
func lastLines(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	s := strings.TrimSuffix(string(b), "\n")
	return s[strings.LastIndexByte(s, '\n')+1:], nil
}

// keptNumbers returns the numbers in a log's rotated file (but its first
// line) and the log.
func keptNumbers(t *testing.T, log string) []int {
	t.Helper()
	var out []int
	for _, p := range []string{log + ".1", log} {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		ls := strings.Fields(string(b))
		if p == log+".1" && len(ls) > 0 {
			ls = ls[1:] // the rotated file keeps the log's end: its first line may be a part
		}
		for _, l := range ls {
			if n, err := strconv.Atoi(l); err == nil {
				out = append(out, n)
			}
		}
	}
	return out
}
