package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nslab/nslab/kernel"
	"github.com/nslab/nslab/nslabtest"
)

// bin is the nslab binary under test, built once by TestMain.
var bin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "nslab-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	// Other users run it too (TestWithoutPrivileges).
	if err := os.Chmod(dir, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin = filepath.Join(dir, "nslab")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building nslab: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

type result struct {
	stdout, stderr string
	code           int
}

// nslab runs the binary with stdin and returns its output and exit code.
func nslab(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	return runCmd(t, exec.Command(bin, args...), stdin, args)
}

// runCmd runs cmd with stdin and returns its output and exit code; args
// name it in a failure to start.
func runCmd(t *testing.T, cmd *exec.Cmd, stdin string, args []string) result {
	t.Helper()
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errb.String()}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("running nslab %v: %v", args, err)
	}
	return r
}

// seedFile writes a seed topology under a unique lab name and registers
// the lab's teardown and leak check.
func seedFile(t *testing.T, subnet string) (file, name string) {
	t.Helper()
	nslabtest.RequireRoot(t)
	name = nslabtest.Name("c")
	file = filepath.Join(t.TempDir(), name+".yaml")
	yaml := fmt.Sprintf(`name: %s
bridges:
  br-ns: {addresses: [%[2]s.1/24]}
nodes:
  ns1:
    interfaces:
      eth0: {link: br-ns, addresses: [%[2]s.2/24]}
  ns2:
    interfaces:
      eth0: {link: br-ns, addresses: [%[2]s.3/24]}
`, name, subnet)
	if err := os.WriteFile(file, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if r := nslab(t, "", "down", "--lab", name); r.code != 0 {
			t.Errorf("down: %s", r.stderr)
		}
		nslabtest.CheckLeaks(t, name)
		want := "lab " + name + " was not running: nothing to remove\n"
		if r := nslab(t, "", "down", "--lab", name); r.code != 0 || r.stdout != want {
			t.Errorf("a second down: code %d, %q; want 0, %q", r.code, r.stdout, want)
		}
	})
	return file, name
}

func TestLifecycle(t *testing.T) {
	subnet := nslabtest.Subnet(t)
	file, name := seedFile(t, subnet)
	if r := nslab(t, "", "up", file); r.code != 0 || !strings.Contains(r.stdout, "lab "+name+" is up") {
		t.Fatalf("up: code %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	// The system's own tools see the lab.
	if out := nslabtest.IP(t, "netns", "list"); !strings.Contains(out, name+".ns1") {
		t.Errorf("ip netns list:\n%s", out)
	}
	if out, err := exec.Command("ip", "netns", "exec", name+".ns1", "ip", "-br", "addr").CombinedOutput(); err != nil || !strings.Contains(string(out), subnet+".2/24") {
		t.Errorf("ip netns exec: %v\n%s", err, out)
	}

	t.Run("status json", func(t *testing.T) {
		r := nslab(t, "", "status", "-o", "json", name)
		var st []struct {
			Name  string
			Nodes []struct {
				Name       string
				Interfaces []struct {
					Name, State, Peer string
					Addresses         []string
				}
			}
			Bridges []struct{ Name, Kernel_name string }
		}
		if err := json.Unmarshal([]byte(r.stdout), &st); err != nil {
			t.Fatalf("status -o json: %v\n%s%s", err, r.stdout, r.stderr)
		}
		if len(st) != 1 || len(st[0].Nodes) != 2 || st[0].Nodes[0].Interfaces[0].Peer != "br-ns" ||
			strings.Join(st[0].Nodes[1].Interfaces[0].Addresses, ",") != subnet+".3/24" ||
			st[0].Nodes[0].Interfaces[0].State != "up" {
			t.Errorf("status: %+v", st)
		}
	})
	t.Run("status table", func(t *testing.T) {
		r := nslab(t, "", "status", name)
		if !strings.Contains(r.stdout, subnet+".2/24") || !strings.Contains(r.stdout, "bridge br-ns") {
			t.Errorf("status:\n%s%s", r.stdout, r.stderr)
		}
	})
	t.Run("exec", func(t *testing.T) {
		r := nslab(t, "hello\n", "exec", name+".ns1", "--", "sh", "-c", "cat; echo $NSLAB_NODE; ip -br addr show eth0; exit 7")
		if r.code != 7 || !strings.Contains(r.stdout, "hello\nns1\n") || !strings.Contains(r.stdout, subnet+".2/24") {
			t.Errorf("exec: code %d\n%s%s", r.code, r.stdout, r.stderr)
		}
	})
	t.Run("exec without the fast path", func(t *testing.T) {
		cmd := exec.Command(bin, "exec", name+".ns1", "--", "sh", "-c", "echo $NSLAB_NODE; exit 4")
		cmd.Env = append(os.Environ(), "NSLAB_NO_FAST_EXEC=1")
		out, err := cmd.Output()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 4 || string(out) != "ns1\n" {
			t.Errorf("exec in Go: %v, %q", err, out)
		}
	})
	t.Run("exec of what cannot run", func(t *testing.T) {
		plain := filepath.Join(t.TempDir(), "plain")
		if err := os.WriteFile(plain, []byte("not a program\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			argv []string
			code int
			msg  string
		}{
			{[]string{"no-such-command"}, 127, "no-such-command: command not found"},
			{[]string{"/no/such/file"}, 127, "/no/such/file: command not found"},
			{[]string{plain}, 126, plain + ": cannot run it: permission denied"},
		} {
			r := nslab(t, "", append([]string{"exec", name + ".ns1", "--"}, c.argv...)...)
			if r.code != c.code || r.stderr != "nslab: "+name+".ns1: "+c.msg+"\n" {
				t.Errorf("exec %v: code %d, stderr %q; want %d, %q", c.argv, r.code, r.stderr, c.code, c.msg)
			}
		}
	})
	t.Run("exec etc netns", func(t *testing.T) {
		dir := nslabtest.EtcNetns(t, name+".ns2")
		os.WriteFile(dir+"/hosts", []byte("peer-one\n"), 0o644)
		r := nslab(t, "", "exec", name+".ns2", "cat", "/etc/hosts")
		if r.stdout != "peer-one\n" {
			t.Errorf("exec did not bind /etc/netns/%s.ns2/hosts: %q %s", name, r.stdout, r.stderr)
		}
	})
	t.Run("shell", func(t *testing.T) {
		r := nslab(t, "echo in-$NSLAB_NODE\nexit 3\n", "shell", name+".ns2")
		if r.code != 3 || !strings.Contains(r.stdout, "in-ns2") || !strings.Contains(r.stderr, "["+name+".ns2]") {
			t.Errorf("shell: code %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
		}
	})
	t.Run("ps", func(t *testing.T) {
		sleeper := exec.Command(bin, "exec", name+".ns2", "sleep", "30")
		if err := sleeper.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() { sleeper.Process.Kill(); sleeper.Wait() }()
		var r result
		row := []string{name, "ns2", fmt.Sprint(sleeper.Process.Pid), "sleep", "30"}
		for range 100 {
			if r = nslab(t, "", "ps", name); hasRow(r.stdout, row...) {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		if !hasRow(r.stdout, row...) {
			t.Errorf("ps:\n%s%s", r.stdout, r.stderr)
		}
	})
	t.Run("check", func(t *testing.T) {
		r := nslab(t, "", "check", name)
		if r.code != 0 || !strings.Contains(r.stdout, "ok") {
			t.Errorf("check: code %d\n%s%s", r.code, r.stdout, r.stderr)
		}
	})
	t.Run("link down and up", func(t *testing.T) {
		ref := name + ".ns2:eth0"
		if r := nslab(t, "", "link", "down", ref); r.code != 0 || r.stdout != "cable of "+ref+" cut\n" {
			t.Fatalf("link down: code %d, %q %s", r.code, r.stdout, r.stderr)
		}
		// The pairs the cut separates are expected to fail: shown as cut,
		// not failed.
		if r := nslab(t, "", "check", "--timeout", "300ms", name); r.code != 0 || !strings.Contains(r.stdout, "cut") || !strings.Contains(r.stdout, "0 failed, 4 met faults in force") {
			t.Errorf("check with ns2's cable cut: code %d, want 0 with ns2's pairs cut\n%s%s", r.code, r.stdout, r.stderr)
		}
		if r := nslab(t, "", "link", "up", ref); r.code != 0 || r.stdout != "cable of "+ref+" joined again\n" {
			t.Fatalf("link up: code %d, %q %s", r.code, r.stdout, r.stderr)
		}
		if r := nslab(t, "", "check", name); r.code != 0 {
			t.Errorf("check with ns2's cable joined again: code %d\n%s%s", r.code, r.stdout, r.stderr)
		}
		for _, bad := range []string{"ns2", "host:eth0", name + ".ns2:"} {
			if r := nslab(t, "", "link", "down", bad); r.code != 2 {
				t.Errorf("link down %s: code %d, want 2 (usage)\n%s", bad, r.code, r.stderr)
			}
		}
	})
	t.Run("partition and heal", func(t *testing.T) {
		want := "lab " + name + " partitioned: {ns1} | {ns2}\n"
		if r := nslab(t, "", "partition", "--lab", name, "ns1", "ns2"); r.code != 0 || r.stdout != want {
			t.Fatalf("partition: code %d, %q %s", r.code, r.stdout, r.stderr)
		}
		if r := nslab(t, "", "check", "--timeout", "300ms", name); r.code != 0 || !strings.Contains(r.stdout, "0 failed, 2 met faults in force") || !strings.Contains(r.stdout, "partitioned") {
			t.Errorf("check while partitioned: code %d, want 0 with ns1-ns2 partitioned both ways\n%s%s", r.code, r.stdout, r.stderr)
		}
		if r := nslab(t, "", "heal", name); r.code != 0 || r.stdout != "lab "+name+" healed\n" {
			t.Fatalf("heal: code %d, %q %s", r.code, r.stdout, r.stderr)
		}
		if r := nslab(t, "", "check", name); r.code != 0 {
			t.Errorf("check after heal: code %d\n%s%s", r.code, r.stdout, r.stderr)
		}
	})
	t.Run("block, a block that did not take, heal", func(t *testing.T) {
		if r := nslab(t, "", "block", "--lab", name, "ns1", "ns2"); r.code != 0 || r.stdout != "lab "+name+" blocked: ns1 -> ns2\n" {
			t.Fatalf("block: code %d, %q %s", r.code, r.stdout, r.stderr)
		}
		if r := nslab(t, "", "check", "--timeout", "300ms", name); r.code != 0 || !strings.Contains(r.stdout, "blocked") {
			t.Errorf("check while blocked: code %d, want 0 with ns1-ns2 blocked\n%s%s", r.code, r.stdout, r.stderr)
		}
		if r := nslab(t, "", "status", name); r.code != 0 || !strings.Contains(r.stdout, "faults in force in "+name+": block ns1 -> ns2 (nslab heal "+name+" reverts them)") {
			t.Errorf("status while blocked: code %d\n%s%s", r.code, r.stdout, r.stderr)
		}
		// The block taken away behind nslab's back: the pair answers,
		// and check says the fault did not take.
		if err := (&kernel.Partition{NS: name + ".ns2"}).Apply(nil); err != nil {
			t.Fatal(err)
		}
		r := nslab(t, "", "check", "--timeout", "300ms", name)
		if r.code != 1 || !strings.Contains(r.stdout, "answers while blocked (the fault did not take)") {
			t.Errorf("check with the block gone: code %d, want 1 and the pair answering\n%s%s", r.code, r.stdout, r.stderr)
		}
		if r := nslab(t, "", "block", "--lab", name, "--loss", "150%", "ns1", "ns2"); r.code != 2 {
			t.Errorf("block --loss 150%%: code %d, want 2\n%s", r.code, r.stderr)
		}
		if r := nslab(t, "", "heal", name); r.code != 0 {
			t.Fatalf("heal: code %d, %q %s", r.code, r.stdout, r.stderr)
		}
		if r := nslab(t, "", "check", name); r.code != 0 {
			t.Errorf("check after heal: code %d\n%s%s", r.code, r.stdout, r.stderr)
		}
	})
	t.Run("up again", func(t *testing.T) {
		r := nslab(t, "", "up", file)
		if r.code != 0 || !strings.Contains(r.stderr, "nothing to change") {
			t.Errorf("second up: code %d\n%s", r.code, r.stderr)
		}
	})
}

func TestExecUnknownNode(t *testing.T) {
	nslabtest.RequireRoot(t)
	r := nslab(t, "", "exec", "no-such-node", "true")
	if r.code != 1 || !strings.Contains(r.stderr, "no node named no-such-node") {
		t.Errorf("code %d: %s", r.code, r.stderr)
	}
}

func TestCheckFailsOnBrokenLab(t *testing.T) {
	subnet := nslabtest.Subnet(t)
	file, name := seedFile(t, subnet)
	if r := nslab(t, "", "up", file); r.code != 0 {
		t.Fatalf("up: %s", r.stderr)
	}
	nslabtest.IP(t, "-n", name+".ns2", "link", "set", "eth0", "down")
	r := nslab(t, "", "check", "--timeout", "300ms", name)
	if r.code != 1 || !strings.Contains(r.stdout, subnet+".3") {
		t.Errorf("check of a broken lab: code %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

func TestDemo(t *testing.T) {
	nslabtest.RequireRoot(t)
	name := nslabtest.Name("demo")
	r := nslab(t, "", "demo", "--lab", name)
	if r.code != 0 {
		t.Fatalf("demo: code %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{"is up", "10.0.0.2/24", "ok", "removed"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("demo output lacks %q:\n%s", want, r.stdout)
		}
	}
	nslabtest.CheckLeaks(t, name)
}

func TestUsageErrorsExit2(t *testing.T) {
	for _, args := range [][]string{{"up"}, {"status", "-o", "yaml"}, {"no-such-command"}, {"up", "--bogus", "x"}} {
		if r := nslab(t, "", args...); r.code != 2 {
			t.Errorf("nslab %v: code %d, want 2\n%s", args, r.code, r.stderr)
		}
	}
}

func TestValidateAndPlan(t *testing.T) {
	r := nslab(t, "", "validate", "../../examples/seed.yaml", "../../examples/two-subnets.yaml", "../../examples/p2p.yaml")
	if r.code != 0 || strings.Count(r.stdout, "valid") != 3 {
		t.Errorf("validate examples: code %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(bad, []byte("nodes:\n  ns1:\n    interfaces:\n      eth0: {link: br9}\n"), 0o644)
	r = nslab(t, "", "validate", bad)
	if r.code != 1 || !strings.Contains(r.stderr, bad+":4:") || !strings.Contains(r.stderr, "br9") {
		t.Errorf("validate bad file: code %d\n%s", r.code, r.stderr)
	}
	r = nslab(t, "", "plan", "--lab", "planonly", "../../examples/seed.yaml")
	for _, want := range []string{"ip netns add planonly.ns1", "type bridge", "type veth peer name eth0 netns planonly.ns2", "ip -n planonly.ns1 addr add 10.0.0.2/24 dev eth0"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("plan lacks %q:\n%s%s", want, r.stdout, r.stderr)
		}
	}
	if left := nslabtest.Leftovers("planonly"); len(left) > 0 {
		t.Errorf("plan changed the machine: %v", left)
	}
}

// hasRow reports whether a table has a line made of exactly these fields.
func hasRow(table string, fields ...string) bool {
	for _, line := range strings.Split(table, "\n") {
		if strings.Join(strings.Fields(line), " ") == strings.Join(fields, " ") {
			return true
		}
	}
	return false
}
