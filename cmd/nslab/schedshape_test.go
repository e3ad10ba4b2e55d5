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

	"github.com/nslab/nslab/kernel"
	"github.com/nslab/nslab/lab"
	"github.com/nslab/nslab/nslabtest"
)

// scheduleUntil starts nslab schedule and returns it once it logged the
// step want, with the lines it printed so far.
func scheduleUntil(t *testing.T, name, file, want string) (*exec.Cmd, *bufio.Scanner, []string) {
	t.Helper()
	cmd := exec.Command(bin, "schedule", "--lab", name, file)
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
			t.Fatalf("schedule printed %q, not a JSON line: %v", sc.Text(), err)
		}
		if ev.Err != "" {
			t.Fatalf("step %s failed: %s", ev.Step, ev.Err)
		}
		if ev.Step == want {
			return cmd, sc, lines
		}
	}
	t.Fatalf("schedule ended before %q: %v", want, lines)
	return nil, nil, nil
}

// TestScheduleShapeStep runs a schedule whose step shapes ns1's bridge
// port to 2mbit: while it holds, check --measure measures it (exit 0);
// with the qdisc taken off behind nslab's back, check --measure exits 1
// naming the cable, the way and the rate. Killed with SIGKILL, the
// schedule leaves the shape in the record, which the next heal reverts;
// stopped with Ctrl-C it reverts the shape itself; run to its end it
// reverts it and logs "revert".
func TestScheduleShapeStep(t *testing.T) {
	nslabtest.Kernel(t)
	if err := kernel.QdiscSupported("tbf"); err != nil {
		t.Skipf("this kernel has no tbf qdisc (sch_tbf): %v", err)
	}
	file, name := seedFile(t, nslabtest.Subnet(t))
	if r := nslab(t, "", "up", file); r.code != 0 {
		t.Fatalf("up: %s", r.stderr)
	}
	dir := t.TempDir()
	sched := filepath.Join(dir, "long.yaml")
	os.WriteFile(sched, []byte("- {at: 0s, shape: {iface: ns1:eth0, rate: 2mbit}}\n- {at: 60s, heal: true}\n"), 0o644)
	record := filepath.Join(lab.StateDir, name, "faults.json")
	tbf := func() bool {
		return strings.Contains(nslabtest.IP(t, "-n", name+".ns1", "link", "show", "eth0"), "qdisc tbf")
	}

	cmd, _, _ := scheduleUntil(t, name, sched, "shape ns1:eth0 rate 2mbit")
	if !tbf() {
		t.Errorf("the shape step left ns1:eth0 unshaped")
	}
	r := nslab(t, "", "check", "--measure", name)
	t.Logf("check --measure while the step holds:\n%s%s", r.stdout, r.stderr)
	if r.code != 0 || !strings.Contains(r.stdout, "ns1 -> host") || !strings.Contains(r.stdout, "host -> ns1") || !strings.Contains(r.stdout, "2.00mbit / ") {
		t.Errorf("check --measure with the shape in force: code %d, want 0 and both ways measured at 2mbit", r.code)
	}
	if out, err := exec.Command("tc", "-n", name+".ns1", "qdisc", "del", "dev", "eth0", "root").CombinedOutput(); err != nil {
		t.Fatalf("tc qdisc del: %v %s", err, out)
	}
	r = nslab(t, "", "check", "--measure", name)
	t.Logf("check --measure with the shape taken off behind nslab's back:\n%s%s", r.stdout, r.stderr)
	if want := "cable ns1:eth0 -- br-ns, ns1 -> host: rate "; r.code != 1 || !strings.Contains(r.stderr, want) || !strings.Contains(r.stderr, "want 2.00mbit (1.60mbit to 2.20mbit)") {
		t.Errorf("check --measure with the shape gone: code %d, want 1 and an error with %q and the rate expected", r.code, want)
	}

	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	data, err := os.ReadFile(record)
	if err != nil || !strings.Contains(string(data), `"iface": "ns1:eth0"`) || !strings.Contains(string(data), `"schedule `) {
		t.Fatalf("after kill -9 the record holds %s (%v), want the shape and the runner", data, err)
	}
	if r := nslab(t, "", "heal", name); r.code != 0 || r.stdout != "lab "+name+" healed\n" {
		t.Fatalf("heal: code %d %q %s", r.code, r.stdout, r.stderr)
	}
	if tbf() {
		t.Errorf("heal after kill -9 left ns1:eth0 shaped")
	}
	if _, err := os.Stat(record); !os.IsNotExist(err) {
		t.Errorf("after heal the record is still there: %v", err)
	}

	cmd, sc, lines := scheduleUntil(t, name, sched, "shape ns1:eth0 rate 2mbit")
	cmd.Process.Signal(syscall.SIGINT)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if err := cmd.Wait(); err != nil {
		t.Errorf("schedule stopped by Ctrl-C: %v", err)
	}
	if last := lines[len(lines)-1]; !strings.Contains(last, `"step":"revert"`) || strings.Contains(last, "error") {
		t.Errorf("schedule stopped by Ctrl-C logged last %s, want a revert", last)
	}
	if tbf() {
		t.Errorf("Ctrl-C left ns1:eth0 shaped")
	}

	short := filepath.Join(dir, "short.yaml")
	os.WriteFile(short, []byte("- {at: 0s, shape: {iface: ns1:eth0, rate: 2mbit, loss: 10%, direction: out}}\n- {at: 300ms, shape: {iface: ns2:eth0, off: true}}\n"), 0o644)
	r = nslab(t, "", "schedule", "--lab", name, short)
	if r.code != 0 || !strings.Contains(r.stdout, `"step":"shape ns1:eth0 rate 2mbit, loss 10%, direction out"`) ||
		!strings.Contains(r.stdout, `"step":"shape ns2:eth0 off"`) || !strings.Contains(r.stdout, `"step":"revert"`) {
		t.Errorf("a schedule run to its end: code %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if tbf() {
		t.Errorf("the end of the schedule left ns1:eth0 shaped")
	}
	if _, err := os.Stat(record); !os.IsNotExist(err) {
		t.Errorf("after the schedule the record is still there: %v", err)
	}
}
