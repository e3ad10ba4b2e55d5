package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nslab/nslab/internal/netnsdir"
	"github.com/nslab/nslab/lab"
	"github.com/nslab/nslab/nslabtest"
	"golang.org/x/sys/unix"
)

// starFile writes a star of nodes without a host address (no subnet to
// share with other tests) under a unique lab name, and registers its down
// and leak check.
func starFile(t *testing.T, prefix string, nodes int) (file, name string) {
	t.Helper()
	nslabtest.RequireRoot(t)
	name = nslabtest.Name(prefix)
	r := nslab(t, "", "gen", "star", "--nodes", fmt.Sprint(nodes), "--name", name)
	if r.code != 0 {
		t.Fatalf("gen: %s", r.stderr)
	}
	file = filepath.Join(t.TempDir(), name+".yaml")
	if err := os.WriteFile(file, []byte(r.stdout), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if r := nslab(t, "", "down", "-q", name); r.code != 0 {
			t.Errorf("down: %s", r.stderr)
		}
		nslabtest.CheckLeaks(t, name)
	})
	return file, name
}

// asNobody runs a command as uid and gid 65534 with no groups.
func asNobody(args ...string) (string, error) {
	out, err := exec.Command("setpriv", append([]string{"--reuid=65534", "--regid=65534", "--clear-groups", "--"}, args...)...).CombinedOutput()
	return string(out), err
}

// TestStatePrivate checks that a lab's state and lock are root's alone:
// another user can neither open the lock (and so take it) nor read the
// state, while the hosts file stays readable to every user inside the
// nodes; and that state an older nslab left open is tightened by up.
func TestStatePrivate(t *testing.T) {
	if _, err := exec.LookPath("setpriv"); err != nil {
		t.Skip("needs setpriv (util-linux)")
	}
	file, name := starFile(t, "p", 2)
	if r := nslab(t, "", "up", "-q", file); r.code != 0 {
		t.Fatalf("up: %s", r.stderr)
	}
	lockFile := filepath.Join(lab.StateDir, ".locks", name)
	dir := filepath.Join(lab.StateDir, name)
	private := func(when string) {
		t.Helper()
		for _, d := range []string{lab.StateDir, filepath.Dir(lockFile), dir} {
			if fi, err := os.Stat(d); err != nil || fi.Mode().Perm() != 0o700 {
				t.Errorf("%s: directory %s: %v, want mode 0700", when, d, modeOf(fi, err))
			}
		}
		files, _ := os.ReadDir(dir)
		for _, f := range append(files, fs.FileInfoToDirEntry(statOrNil(lockFile))) {
			if f == nil {
				t.Errorf("%s: no lock file %s", when, lockFile)
				continue
			}
			if f.Name() == "uts" {
				continue // the hostnames' holder: a namespace mounted there, with no mode of its own; the directory keeps others out
			}
			want := fs.FileMode(0o600)
			if f.Name() == "hosts" || f.Name() == "resolv.conf" {
				want = 0o644 // bound over /etc in nodes
			}
			path := filepath.Join(dir, f.Name())
			if f.Name() == name {
				path = lockFile
			}
			if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != want {
				t.Errorf("%s: %s: %v, want mode %v", when, path, modeOf(fi, err), want)
			}
		}
		// What a hostile user would do: open the lock read-only, and flock it.
		if out, err := asNobody("flock", "-s", "-n", lockFile, "true"); err == nil {
			t.Errorf("%s: another user took the lock of lab %s:\n%s", when, name, out)
		}
		if out, err := asNobody("cat", filepath.Join(dir, "topology.yaml")); err == nil {
			t.Errorf("%s: another user read the lab's state:\n%s", when, out)
		}
		// Programs of any user in a node read the lab's hosts file.
		r := nslab(t, "", "exec", name+".h1", "--", "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--", "cat", "/etc/hosts")
		if r.code != 0 || !strings.Contains(r.stdout, "h2."+name) {
			t.Errorf("%s: /etc/hosts as another user in a node: code %d\n%s%s", when, r.code, r.stdout, r.stderr)
		}
		r = nslab(t, "", "exec", name+".h1", "--", "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--", "cat", "/etc/resolv.conf")
		if r.code != 0 {
			t.Errorf("%s: /etc/resolv.conf as another user in a node: code %d\n%s%s", when, r.code, r.stdout, r.stderr)
		}
	}
	private("after up")

	// State as an older nslab left it: open to all.
	for _, d := range []string{lab.StateDir, filepath.Dir(lockFile), dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{lockFile, filepath.Join(dir, "topology.yaml"), filepath.Join(dir, "assigned"), filepath.Join(dir, "claims.json")} {
		if err := os.Chmod(f, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if r := nslab(t, "", "up", "-q", file); r.code != 0 {
		t.Fatalf("up again: %s", r.stderr)
	}
	private("after up of an open state")
}

func statOrNil(path string) fs.FileInfo {
	fi, err := os.Stat(path)
	if err != nil {
		return nil
	}
	return fi
}

func modeOf(fi fs.FileInfo, err error) string {
	if err != nil {
		return err.Error()
	}
	return fmt.Sprintf("mode %#o", fi.Mode().Perm())
}

// TestLockWaitSaysWhoAndStops holds a lab's lock and runs up: up must say
// that it waits and for whom (pid and command), and SIGINT must end it
// within a second, with status 1, having changed nothing.
func TestLockWaitSaysWhoAndStops(t *testing.T) {
	file, name := starFile(t, "w", 2)
	lockFile := filepath.Join(lab.StateDir, ".locks", name)
	if err := netnsdir.Private(lab.StateDir); err != nil {
		t.Fatal(err)
	}
	held, err := netnsdir.LockFile(lockFile, unix.LOCK_EX)
	if err != nil {
		t.Fatal(err)
	}
	interruptWhileWaiting(t, name, "up", file)
	held.Close()
	if _, err := os.Stat(filepath.Join(lab.StateDir, name)); err == nil {
		t.Errorf("the interrupted up left state of lab %s", name)
	}

	// The commands that change a running lab wait for its lock the same way.
	if r := nslab(t, "", "up", "-q", file); r.code != 0 {
		t.Fatalf("up: %s", r.stderr)
	}
	t.Cleanup(func() { nslab(t, "", "down", "-q", name) })
	held, err = netnsdir.LockFile(lockFile, unix.LOCK_EX)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	for _, args := range [][]string{
		{"link", "down", name + ".h1:eth0"},
		{"partition", "--lab", name, "h1", "h2"},
		{"heal", name},
	} {
		interruptWhileWaiting(t, name, args...)
	}
}

// interruptWhileWaiting runs nslab with args while the test holds the
// lab's lock: it must say who holds it, and SIGINT must end it within a
// second, with exit status 1 and a message that it stopped waiting.
func interruptWhileWaiting(t *testing.T, name string, args ...string) string {
	t.Helper()
	what := strings.Join(args[:1], " ")
	cmd := exec.Command(bin, args...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	lines := make(chan string, 10)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		done <- cmd.Wait()
	}()
	var all bytes.Buffer
	select {
	case line := <-lines:
		all.WriteString(line + "\n")
		self, _ := os.ReadFile("/proc/self/cmdline")
		want := fmt.Sprintf("lab %s is busy: pid %d (%s", name, os.Getpid(), strings.SplitN(string(self), "\x00", 2)[0])
		if !strings.Contains(line, want) {
			t.Errorf("%s waiting for the lock says %q, want it to contain %q", what, line, want)
		}
	case <-time.After(5 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("%s said nothing in 5 s while the lock was held", what)
	}
	cmd.Process.Signal(syscall.SIGINT)
	start := time.Now()
	var werr error
	select {
	case werr = <-done:
	case <-time.After(3 * time.Second):
		cmd.Process.Kill()
		<-done
		t.Fatalf("%s went on waiting 3 s after SIGINT", what)
	}
	for l := range lines {
		all.WriteString(l + "\n")
	}
	took := time.Since(start)
	t.Logf("SIGINT ended the waiting %s in %v:\n%s", what, took.Round(time.Millisecond), all.String())
	if took > time.Second {
		t.Errorf("%s took %v to end after SIGINT, want under 1 s", what, took)
	}
	if code := cmd.ProcessState.ExitCode(); code != 1 {
		t.Errorf("%s ended with %v, want exit status 1", what, werr)
	}
	if !strings.Contains(all.String(), "stopped while waiting for its lock") {
		t.Errorf("%s does not say it stopped waiting:\n%s", what, all.String())
	}
	return all.String()
}

// TestUpWaitsForDown runs up while a down of the same lab runs, on a
// machine where the lab is the only one, so that the down removes the lock
// directory under the waiting up: up must build the lab all the same.
func TestUpWaitsForDown(t *testing.T) {
	nslabtest.RequireRoot(t)
	sb := newSandbox(t)
	r := nslab(t, "", "gen", "star", "--nodes", "100", "--name", "wd")
	if r.code != 0 {
		t.Fatal(r.stderr)
	}
	file := filepath.Join(t.TempDir(), "wd.yaml")
	if err := os.WriteFile(file, []byte(r.stdout), 0o644); err != nil {
		t.Fatal(err)
	}
	start := func(args ...string) (*exec.Cmd, *bytes.Buffer) {
		cmd := exec.Command("nsenter", append([]string{"-t", sb.pid, "-n", "-m", "--", bin}, args...)...)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd, &out
	}
	const tries = 8
	waited := 0
	for i := range tries {
		sb.must(bin, "up", "-q", file)
		down, downOut := start("down", "-q", "wd")
		// up starts once down holds the lab's lock (or is done).
		lockFile := "/proc/" + sb.pid + "/root/run/nslab/.locks/wd"
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
			if netnsdir.Holder(lockFile) != "another process" {
				break
			}
		}
		up, upOut := start("up", file) // not -q: it would not say that it waits
		if err := down.Wait(); err != nil {
			t.Errorf("try %d: down: %v\n%s", i, err, downOut)
		}
		if err := up.Wait(); err != nil {
			t.Fatalf("try %d: up during down: %v\n%s", i, err, upOut)
		}
		if strings.Contains(upOut.String(), "is busy") {
			waited++
		}
		if out := sb.must("ls", "/run/netns"); strings.Count(out, "wd.") != 100 {
			t.Fatalf("try %d: up during down left %d nodes, want 100", i, strings.Count(out, "wd."))
		}
		sb.must(bin, "down", "-q", "wd")
	}
	t.Logf("%d of %d ups waited for a down", waited, tries)
	if waited == 0 {
		t.Errorf("no up waited for the down: the test tested nothing")
	}
}
