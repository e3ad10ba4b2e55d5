package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nslab/nslab/internal/simhost"
	"github.com/nslab/nslab/nslabtest"
)

// readmeSimhosts returns the command lines of the README's section on
// simulated hosts: its first sh block (build, start the hosts) and its
// second (in the hosts' shell), without comments.
func readmeSimhosts(t *testing.T) (start, inShell []string) {
	t.Helper()
	b, err := os.ReadFile("../../../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, sec, ok := strings.Cut(string(b), "### Try it on simulated hosts\n")
	if !ok {
		t.Fatal("README.md has no section Try it on simulated hosts")
	}
	if i := strings.Index(sec, "\n#"); i >= 0 {
		sec = sec[:i]
	}
	var blocks [][]string
	for i, block := range strings.Split(sec, "```") {
		if i%2 == 1 && strings.HasPrefix(block, "sh\n") {
			var lines []string
			for _, l := range strings.Split(strings.TrimPrefix(block, "sh\n"), "\n") {
				if l, _, _ = strings.Cut(l, "  #"); strings.TrimSpace(l) != "" {
					lines = append(lines, strings.TrimSpace(l))
				}
			}
			blocks = append(blocks, lines)
		}
	}
	if len(blocks) != 2 || len(blocks[0]) != 2 || len(blocks[1]) < 5 {
		t.Fatalf("README.md's section on simulated hosts: want two sh blocks, the first of two lines: %q", blocks)
	}
	return blocks[0], blocks[1]
}

// tool is simhosts, built by TestMain.
var tool string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "simhosts-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	tool = filepath.Join(dir, "simhosts")
	if out, err := exec.Command("go", "build", "-o", tool, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building simhosts: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// simhostsLeft lists what a simhosts run left of the cluster with that
// prefix, whose keys were in dir.
func simhostsLeft(prefix, dir string) []string {
	var left []string
	out, _ := exec.Command("ip", "-o", "link", "show").Output()
	for _, l := range strings.Split(string(out), "\n") {
		if strings.Contains(l, " "+prefix+"-") {
			left = append(left, "link: "+l)
		}
	}
	if _, err := os.Stat(filepath.Join(simhost.RecordDir, prefix+".json")); err == nil {
		left = append(left, "record "+filepath.Join(simhost.RecordDir, prefix+".json"))
	}
	if dir != "" {
		if _, err := os.Stat(dir); err == nil {
			left = append(left, "directory "+dir)
		}
		ents, _ := os.ReadDir("/proc")
		for _, e := range ents {
			if _, err := strconv.Atoi(e.Name()); err != nil {
				continue
			}
			if cl, _ := os.ReadFile("/proc/" + e.Name() + "/cmdline"); strings.Contains(string(cl), dir) {
				left = append(left, "process "+e.Name()+": "+strings.ReplaceAll(string(cl), "\x00", " "))
			}
		}
	}
	return left
}

func requireSimhosts(t *testing.T) {
	t.Helper()
	nslabtest.RequireRoot(t)
	if err := simhost.Available(); err != nil {
		t.Skip(err)
	}
}

// TestReadmeSimulatedHosts runs the README's steps on simulated hosts as
// a new user would: build nslab and simhosts, start three hosts, and in
// their shell bring examples/across-hosts.yaml up, see its status, check
// it across the hosts, run a TCP stream between hosts, take it down and
// look on a host, then leave. The lines run as written, with these
// differences: the binaries are built into a temporary directory, not
// the checkout; the underlay's subnet and links' prefix are the test's
// own (simhosts run -subnet -prefix), the example's addresses follow
// them; the lab has a unique name; no sudo (the tests run as root).
func TestReadmeSimulatedHosts(t *testing.T) {
	requireSimhosts(t)
	start, inShell := readmeSimhosts(t)
	tmp := t.TempDir()
	sub := nslabtest.Subnet(t)
	prefix := fmt.Sprintf("rm%d", os.Getpid()%100000)
	name := nslabtest.Name("ac")
	example, err := os.ReadFile("../../../../examples/across-hosts.yaml")
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(tmp, name+".yaml")
	src := strings.ReplaceAll(string(example), "10.231.0.", sub+".")
	src = strings.Replace(src, "name: across\n", "name: "+name+"\n", 1)
	if err := os.WriteFile(file, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	word := regexp.MustCompile(`\bacross\b`)
	adapt := func(l string) string {
		l = strings.ReplaceAll(l, "$(command -v sudo) ", "")
		l = strings.ReplaceAll(l, "-o nslab ", "-o "+tmp+"/nslab ")
		l = strings.ReplaceAll(l, "-o simhosts ", "-o "+tmp+"/simhosts ")
		l = strings.ReplaceAll(l, "$PWD/simhosts", tmp+"/simhosts")
		l = strings.ReplaceAll(l, "./nslab", tmp+"/nslab")
		l = strings.ReplaceAll(l, "./simhosts", tmp+"/simhosts")
		l = strings.ReplaceAll(l, "examples/across-hosts.yaml", file)
		return word.ReplaceAllString(l, name)
	}
	t.Cleanup(func() {
		// A run that failed half-way: its hosts, and the lab's record.
		if _, err := simhost.ReapDead(); err != nil {
			t.Error(err)
		}
		os.Remove(filepath.Join("/run/nslab/.fleet", name+".json"))
	})

	build := exec.Command("sh", "-c", adapt(start[0]))
	build.Dir = "../../../.."
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", start[0], err, out)
	}
	// The lines of the shell, each between markers with its exit status.
	var script strings.Builder
	for i, l := range inShell {
		if strings.HasSuffix(l, "&") {
			fmt.Fprintf(&script, "%s\n", adapt(l))
			continue
		}
		fmt.Fprintf(&script, "echo '@@ %d'\n%s 2>&1\necho \"@@ %d rc=$?\"\n", i, adapt(l), i)
	}
	scriptFile := filepath.Join(tmp, "shell.sh")
	if err := os.WriteFile(scriptFile, []byte(script.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	runLine := adapt(start[1]) + fmt.Sprintf(" -subnet %s.0/24 -prefix %s -- sh %s", sub, prefix, scriptFile)
	began := time.Now()
	run := exec.CommandContext(ctx, "sh", "-c", runLine)
	run.Dir = "../../../.."
	outb, err := run.CombinedOutput()
	out := string(outb)
	t.Logf("%s (%v):\n%s", runLine, time.Since(began).Round(time.Second), out)
	if err != nil {
		t.Errorf("%s: %v", start[1], err)
	}

	// What simhosts printed: the example's hosts: block.
	_, hostsBlock, _ := strings.Cut(src, "hosts:\n")
	hostsBlock, _, _ = strings.Cut(hostsBlock, "routing:")
	if !strings.Contains(out, "hosts:\n"+hostsBlock) {
		t.Errorf("simhosts did not print the example's hosts: block:\n%s", hostsBlock)
	}
	dir := ""
	if m := regexp.MustCompile(`NSLAB_SSH_CONFIG=(\S+)/ssh_config`).FindStringSubmatch(out); m != nil {
		dir = m[1]
	} else {
		t.Errorf("simhosts did not print NSLAB_SSH_CONFIG")
	}
	// Each line's output and status.
	for i, l := range inShell {
		if strings.HasSuffix(l, "&") {
			continue
		}
		_, o, ok1 := strings.Cut(out, fmt.Sprintf("@@ %d\n", i))
		o, rest, ok2 := strings.Cut(o, fmt.Sprintf("@@ %d rc=", i))
		rc, _, _ := strings.Cut(rest, "\n")
		if !ok1 || !ok2 {
			if l != "exit" {
				t.Errorf("line %q did not run", l)
			}
			continue
		}
		switch {
		case strings.HasPrefix(l, "ssh "):
			if strings.TrimSpace(o) != "" {
				t.Errorf("%s: left on h2 after down:\n%s", l, o)
			}
		case rc != "0":
			t.Errorf("%s: exit %s\n%s", l, rc, o)
		case strings.Contains(l, " check "):
			if !strings.Contains(o, "20 probes, 20 passed, 0 failed") {
				t.Errorf("%s: want 20 probes passed:\n%s", l, o)
			}
		case strings.Contains(l, "stream -to"):
			m := regexp.MustCompile(`TCP stream \S+ -> \S+: ([0-9.]+) Gbit/s`).FindStringSubmatch(o)
			if m == nil {
				t.Errorf("%s: no rate printed:\n%s", l, o)
				break
			}
			g, _ := strconv.ParseFloat(m[1], 64)
			t.Logf("TCP stream between two simulated hosts: %.2f Gbit/s", g)
			if g < 0.2 {
				t.Errorf("%s: %.2f Gbit/s, want at least 0.2", l, g)
			}
		}
	}
	if left := simhostsLeft(prefix, dir); len(left) > 0 {
		t.Errorf("left after simhosts run: %v", left)
	}
	if _, err := os.Stat(filepath.Join("/run/nslab/.fleet", name+".json")); err == nil {
		t.Errorf("the record of lab %s is left", name)
	}
}

// TestSimhostsKilled: simhosts run ended by SIGTERM removes its hosts
// (the command it ran ends first); killed by SIGKILL, its hosts are
// removed by simhosts reap.
func TestSimhostsKilled(t *testing.T) {
	requireSimhosts(t)
	t.Cleanup(func() { simhost.ReapDead() })
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL} {
		t.Run(sig.String(), func(t *testing.T) {
			sub := nslabtest.Subnet(t)
			prefix := fmt.Sprintf("sk%d", os.Getpid()%100000)
			cmd := exec.Command(tool, "run", "-n", "1", "-subnet", sub+".0/24", "-prefix", prefix, "--", "sleep", "600")
			stdout, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			cmd.Stderr = os.Stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			dir := ""
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				if c, ok := strings.CutPrefix(sc.Text(), "NSLAB_SSH_CONFIG="); ok {
					c, _, _ = strings.Cut(c, " ")
					dir = filepath.Dir(c)
					break
				}
			}
			if dir == "" {
				cmd.Process.Kill()
				cmd.Wait()
				t.Fatal("simhosts printed no NSLAB_SSH_CONFIG")
			}
			go sc.Scan()
			if left := simhostsLeft(prefix, dir); len(left) == 0 {
				t.Fatal("simhosts runs, but nothing of its hosts is found")
			}
			cmd.Process.Signal(sig)
			err = cmd.Wait()
			t.Logf("simhosts after %v: %v", sig, err)
			if sig == syscall.SIGKILL {
				out, err := exec.Command(tool, "reap").CombinedOutput()
				if err != nil || !strings.Contains(string(out), "removed simulated hosts "+prefix+" ") {
					t.Errorf("simhosts reap: %v\n%s", err, out)
				}
			}
			if left := simhostsLeft(prefix, dir); len(left) > 0 {
				t.Errorf("left after %v: %v", sig, left)
			}
		})
	}
}
