package main

import (
	"bufio"
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/nslab/nslab/journal"
	"github.com/nslab/nslab/nslabtest"
)

// nslab events -o json, following a lab while a cable is cut and joined:
// the journal's cut and the kernel's link-down of both ends come within a
// second of the command; the journal's lab-up comes first (replayed);
// down's lab-down is read from the journal it removes, and a lab brought
// up again is followed into its new journal; the human form and
// --follow=false print the journal and end.
func TestEventsWhileCutting(t *testing.T) {
	subnet := nslabtest.Subnet(t)
	file, name := seedFile(t, subnet)
	if r := nslab(t, "", "up", file); r.code != 0 {
		t.Fatalf("up: %s", r.stderr)
	}
	cmd := exec.Command(bin, "events", name, "-o", "json")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	events := make(chan journal.Event, 100)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			var e journal.Event
			if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
				t.Errorf("not a JSON event: %q", sc.Text())
				continue
			}
			events <- e
		}
		close(events)
	}()
	// wait returns when events has given each wanted kind/iface, or
	// fails after limit.
	wait := func(limit time.Duration, want ...string) time.Duration {
		t.Helper()
		start := time.Now()
		left := map[string]bool{}
		for _, w := range want {
			left[w] = true
		}
		deadline := time.After(limit)
		for len(left) > 0 {
			select {
			case e := <-events:
				if e.Time.IsZero() || e.Lab != name {
					t.Errorf("event without a time or of another lab: %+v", e)
				}
				delete(left, e.Kind+" "+e.Node+":"+e.Iface)
				delete(left, e.Kind)
			case <-deadline:
				t.Fatalf("after %v still waiting for %v", limit, left)
			}
		}
		return time.Since(start)
	}
	wait(2*time.Second, "lab-up")
	time.Sleep(300 * time.Millisecond) // the follower listens to the kernel by now
	if r := nslab(t, "", "link", "down", name+".ns1:eth0"); r.code != 0 {
		t.Fatalf("link down: %s", r.stderr)
	}
	d := wait(time.Second, "cut ns1:eth0", "link-down ns1:eth0", "link-down host:ns1:eth0")
	t.Logf("cut seen %v after link down ended", d)
	if r := nslab(t, "", "link", "up", name+".ns1:eth0"); r.code != 0 {
		t.Fatalf("link up: %s", r.stderr)
	}
	wait(time.Second, "join ns1:eth0", "link-up ns1:eth0")
	// The follower reads the journal's last line, lab-down, although
	// down removes the journal with the lab's state.
	if r := nslab(t, "", "down", name); r.code != 0 {
		t.Fatalf("down: %s", r.stderr)
	}
	wait(time.Second, "lab-down", "link-removed ns1:eth0")
	if r := nslab(t, "", "up", file); r.code != 0 {
		t.Fatalf("up again: %s", r.stderr)
	}
	wait(2*time.Second, "lab-up")
	if r := nslab(t, "", "link", "down", name+".ns1:eth0"); r.code != 0 {
		t.Fatalf("link down: %s", r.stderr)
	}
	if r := nslab(t, "", "link", "up", name+".ns1:eth0"); r.code != 0 {
		t.Fatalf("link up: %s", r.stderr)
	}
	wait(time.Second, "cut ns1:eth0", "join ns1:eth0")

	r := nslab(t, "", "events", name, "--follow=false")
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if r.code != 0 || len(lines) != 3 || !strings.Contains(lines[0], name+" lab-up") || !strings.Contains(lines[1], name+" cut ns1:eth0") || !strings.Contains(lines[2], name+" join ns1:eth0") {
		t.Errorf("events --follow=false: code %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := nslab(t, "", "events", name, "--follow=false", "--since", "1h", "-o", "json"); r.code != 0 || strings.Count(r.stdout, "\n") != 3 {
		t.Errorf("events --since 1h: code %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := nslab(t, "", "events", name, "--follow=false", "--since", "soon"); r.code != 2 {
		t.Errorf("events --since soon: code %d, want 2\n%s", r.code, r.stderr)
	}
}
