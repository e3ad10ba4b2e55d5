package main

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/nslab/nslab/lab"
	"github.com/nslab/nslab/nslabtest"
)

// flapUntilCut starts nslab link flap and returns it once it logged its
// first cut, with the lines it printed so far.
func flapUntilCut(t *testing.T, ref string, args ...string) (*exec.Cmd, *bufio.Scanner, []string) {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"link", "flap", ref}, args...)...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	sc := bufio.NewScanner(out)
	var lines []string
	for sc.Scan() {
		lines = append(lines, sc.Text())
		var ev lab.StepEvent
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatalf("flap printed %q, not a JSON line: %v", sc.Text(), err)
		}
		if ev.Step == "cut "+strings.SplitN(ref, ".", 2)[1] {
			return cmd, sc, lines
		}
	}
	t.Fatalf("flap ended before its first cut: %v", lines)
	return nil, nil, nil
}

// TestFlapKilledThenHeal: a flap killed with SIGKILL while the cable is
// cut leaves the cut in the lab's record with the dead runner; check
// shows the pairs cut as expected, and the next heal joins the cable and
// clears the record. A flap stopped with Ctrl-C (SIGINT) joins the cable
// itself and logs its revert.
func TestFlapKilledThenHeal(t *testing.T) {
	nslabtest.Kernel(t)
	file, name := seedFile(t, nslabtest.Subnet(t))
	if r := nslab(t, "", "up", file); r.code != 0 {
		t.Fatalf("up: %s", r.stderr)
	}
	record := filepath.Join(lab.StateDir, name, "faults.json")
	ref := name + ".ns1:eth0"

	cmd, _, _ := flapUntilCut(t, ref, "--period", "4s", "--down", "3s", "--for", "20s")
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	data, err := os.ReadFile(record)
	if err != nil || !strings.Contains(string(data), `"ns1:eth0"`) || !strings.Contains(string(data), `"flap ns1:eth0"`) {
		t.Fatalf("after kill -9 the record holds %s (%v), want the cut and the runner", data, err)
	}
	if r := nslab(t, "", "check", "--timeout", "300ms", name); r.code != 0 || !strings.Contains(r.stdout, "cut") {
		t.Errorf("check with the cut the flap left: code %d, want 0 with ns1's pairs cut\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := nslab(t, "", "heal", name); r.code != 0 || r.stdout != "lab "+name+" healed\n" {
		t.Fatalf("heal: code %d %q %s", r.code, r.stdout, r.stderr)
	}
	if r := nslab(t, "", "check", name); r.code != 0 || strings.Contains(r.stdout, "fault") {
		t.Errorf("check after heal: code %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if _, err := os.Stat(record); !os.IsNotExist(err) {
		t.Errorf("after heal the record is still there: %v", err)
	}

	cmd, sc, lines := flapUntilCut(t, ref, "--period", "4s", "--down", "3s", "--for", "20s")
	cmd.Process.Signal(syscall.SIGINT)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if err := cmd.Wait(); err != nil {
		t.Errorf("flap stopped by Ctrl-C: %v", err)
	}
	if last := lines[len(lines)-1]; !strings.Contains(last, `"step":"revert"`) || strings.Contains(last, "error") {
		t.Errorf("flap stopped by Ctrl-C logged last %s, want a revert", last)
	}
	if _, err := os.Stat(record); !os.IsNotExist(err) {
		t.Errorf("after Ctrl-C the record is still there: %v", err)
	}
	if r := nslab(t, "", "check", name); r.code != 0 || strings.Contains(r.stdout, "fault") {
		t.Errorf("check after a flap stopped by Ctrl-C: code %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}
