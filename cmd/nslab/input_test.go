package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// started is an nslab running in the background.
type started struct {
	cmd  *exec.Cmd
	out  bytes.Buffer
	done chan struct{}
}

func startNslab(t *testing.T, args ...string) *started {
	t.Helper()
	s := &started{cmd: exec.Command(bin, args...), done: make(chan struct{})}
	s.cmd.Stdout, s.cmd.Stderr = &s.out, &s.out
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { s.cmd.Wait(); close(s.done) }()
	t.Cleanup(func() { s.cmd.Process.Kill(); <-s.done })
	return s
}

// wait waits up to limit for nslab to end and returns how long it took;
// an nslab still running then is killed and fails the test.
func (s *started) wait(t *testing.T, limit time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	select {
	case <-s.done:
		return time.Since(start)
	case <-time.After(limit):
		s.cmd.Process.Kill()
		<-s.done
		t.Fatalf("nslab %s still ran after %v:\n%s", strings.Join(s.cmd.Args[1:], " "), limit, s.out.String())
		return 0
	}
}

func mkfifo(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "lab.yaml")
	if err := unix.Mkfifo(path, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestFIFOWithoutWriter gives validate and up a FIFO that no one writes
// to: both must refuse it, naming it and why, after about 5 s.
func TestFIFOWithoutWriter(t *testing.T) {
	fifo := mkfifo(t)
	start := time.Now()
	runs := map[string]*started{"validate": startNslab(t, "validate", fifo), "up": startNslab(t, "up", fifo)}
	for cmd, s := range runs {
		s.wait(t, 10*time.Second-time.Since(start))
		took := time.Since(start)
		if code := s.cmd.ProcessState.ExitCode(); code != 1 || took > 8*time.Second ||
			!strings.Contains(s.out.String(), fifo+" is a FIFO that sent nothing for 5s") {
			t.Errorf("%s FIFO: exit %d after %v:\n%s", cmd, code, took.Round(time.Millisecond), s.out.String())
		}
	}
}

// TestBlockingKernelFile gives validate /proc/kmsg, a regular file of
// size 0 that waits for the kernel's next message: it must be refused
// after about 5 s as a FIFO is, not wait forever (and SIGTERM then ends
// it). Reading it takes what klogd would read; nothing here runs klogd.
func TestBlockingKernelFile(t *testing.T) {
	f, err := os.Open("/proc/kmsg")
	if err != nil {
		t.Skipf("opening /proc/kmsg: %v (the test needs root)", err)
	}
	f.Close()
	start := time.Now()
	s := startNslab(t, "validate", "/proc/kmsg")
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.done:
			t.Fatalf("validate /proc/kmsg still ran after 10s (SIGTERM ended it):\n%s", s.out.String())
		case <-time.After(2 * time.Second):
			t.Fatalf("validate /proc/kmsg still ran after 10s, and SIGTERM did not end it:\n%s", s.out.String())
		}
	}
	took := time.Since(start)
	// The kernel may have had messages for it: then it says they are not
	// a topology instead.
	if code := s.cmd.ProcessState.ExitCode(); code != 1 || took > 8*time.Second || !strings.Contains(s.out.String(), "/proc/kmsg") {
		t.Errorf("validate /proc/kmsg: exit %d after %v:\n%s", code, took.Round(time.Millisecond), s.out.String())
	}
	t.Logf("refused after %v: %s", took.Round(time.Millisecond), strings.TrimSpace(s.out.String()))
}

// TestFIFOWithLateWriter: a FIFO whose writer comes a second later is
// read as a file.
func TestFIFOWithLateWriter(t *testing.T) {
	fifo := mkfifo(t)
	s := startNslab(t, "validate", fifo)
	time.Sleep(time.Second)
	f, err := os.OpenFile(fifo, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("name: late\nnodes:\n  a: {}\n")
	f.Close()
	s.wait(t, 5*time.Second)
	if !strings.Contains(s.out.String(), "valid: lab late, 1 node") {
		t.Errorf("validate of a FIFO written late:\n%s", s.out.String())
	}
}

// TestSignalWhileReading: SIGTERM and SIGINT end nslab within a second
// while it waits on a FIFO or on standard input.
func TestSignalWhileReading(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		fifo := mkfifo(t)
		s := startNslab(t, "up", fifo)
		time.Sleep(300 * time.Millisecond)
		s.cmd.Process.Signal(sig)
		if took := s.wait(t, 3*time.Second); took > time.Second || s.cmd.ProcessState.ExitCode() != 1 {
			t.Errorf("up FIFO: %v ended it in %v with %v:\n%s", sig, took, s.cmd.ProcessState, s.out.String())
		}

		// Standard input: a pipe whose writer stays and sends nothing.
		s = &started{cmd: exec.Command(bin, "validate", "-"), done: make(chan struct{})}
		s.cmd.Stdout, s.cmd.Stderr = &s.out, &s.out
		w, err := s.cmd.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := s.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go func() { s.cmd.Wait(); close(s.done) }()
		t.Cleanup(func() { w.Close(); s.cmd.Process.Kill(); <-s.done })
		time.Sleep(300 * time.Millisecond)
		s.cmd.Process.Signal(sig)
		if took := s.wait(t, 3*time.Second); took > time.Second || s.cmd.ProcessState.ExitCode() != 1 {
			t.Errorf("validate -: %v ended it in %v with %v:\n%s", sig, took, s.cmd.ProcessState, s.out.String())
		}
	}
}

// TestReadStdinAndPipes: - reads standard input, and a pipe with a
// writer (bash's <(...)) builds a lab.
func TestReadStdinAndPipes(t *testing.T) {
	r := nslab(t, "name: fromstdin\nnodes:\n  a: {}\n  b: {}\n", "validate", "-")
	if r.code != 0 || r.stdout != "-: valid: lab fromstdin, 2 nodes, 0 bridges, 0 links\n" {
		t.Errorf("validate -: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = nslab(t, "nodes:\n  a: {bogus: 1}\n", "validate", "-")
	if r.code != 1 || !strings.Contains(r.stderr, "<stdin>:2:") {
		t.Errorf("validate - of a bad file: exit %d, want 1 and a position in <stdin>\n%s%s", r.code, r.stdout, r.stderr)
	}
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("needs bash for <(...)")
	}
	out, err := exec.Command("bash", "-c", bin+" validate <("+bin+" gen star --nodes 50)").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "valid: lab star-50, 50 nodes") {
		t.Errorf("validate <(gen star --nodes 50): %v\n%s", err, out)
	}
	_, name := starFile(t, "i", 50)
	out, err = exec.Command("bash", "-c", bin+" up <("+bin+" gen star --nodes 50 --name "+name+")").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "lab "+name+" is up: 50 nodes") {
		t.Fatalf("up <(gen star --nodes 50): %v\n%s", err, out)
	}
	if r := nslab(t, "", "check", "--sample", "10", name); r.code != 0 {
		t.Errorf("check: %s%s", r.stdout, r.stderr)
	}
}
