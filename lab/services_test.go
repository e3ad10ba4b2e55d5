package lab_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nslab/nslab/kernel"
	"github.com/nslab/nslab/lab"
	"github.com/nslab/nslab/nslabtest"
	"github.com/nslab/nslab/service"
	"github.com/nslab/nslab/topology"
)

// svcLab parses a lab of nodes without interfaces, named for this branch
// (svc-sup), and gives its nodes the services svcs (as the file's
// services: key would: built in Go here).
func svcLab(t *testing.T, nodes []string, svcs ...*topology.Service) *topology.Lab {
	t.Helper()
	nslabtest.RequireRoot(t)
	name := nslabtest.Name("sup")
	nslabtest.CheckLeaksAtEnd(t, name)
	src := "name: " + name + "\nnodes:\n"
	for _, n := range nodes {
		src += "  " + n + ": {}\n"
	}
	tl, err := topology.Parse(name+".yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range svcs {
		n := tl.Node(s.Node)
		n.Services = append(n.Services, s)
	}
	return tl
}

// sh is a service that runs script with /bin/sh -c.
func sh(node, name, script string) *topology.Service {
	return &topology.Service{Node: node, Name: name, Command: []string{"/bin/sh", "-c", script}, Shell: true,
		Restart: topology.RestartNo, StopGrace: 2 * time.Second}
}

// upSvc builds tl and registers its down (and the leak check, processes
// included).
func upSvc(t *testing.T, tl *topology.Lab, opt lab.Options) error {
	t.Helper()
	t.Cleanup(func() {
		if err := lab.Down(context.Background(), tl.Name, lab.Options{}); err != nil {
			t.Errorf("down: %v", err)
		}
	})
	return lab.Up(context.Background(), tl, tl.Source, opt)
}

// state returns the state of service ref of the lab.
func state(t *testing.T, labName, ref string) service.ServiceState {
	t.Helper()
	st, err := service.Read(labName)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range st.Services {
		if s.Node+"/"+s.Name == ref {
			return s
		}
	}
	t.Fatalf("lab %s has no service %s: %+v", labName, ref, st)
	return service.ServiceState{}
}

// waitFor polls cond every 10 ms for up to d.
func waitFor(d time.Duration, cond func() bool) bool {
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
		if cond() {
			return true
		}
	}
	return cond()
}

func readLog(t *testing.T, labName, node, svc string) string {
	t.Helper()
	b, _ := os.ReadFile(service.LogPath(labName, node, svc))
	return string(b)
}

// TestServiceRunsInItsNode: a service runs in its node's network and UTS
// namespaces (the hostname is the node's), with the node's /sys and none
// of /run/netns in its mount namespace, in the node's own directory, with
// NSLAB_* and the file's env in its environment (not that of up), its
// output in its log; down ends it and leaves nothing.
func TestServiceRunsInItsNode(t *testing.T) {
	t.Setenv("SVC_SUP_SECRET", "of the up") // not passed on
	info := sh("a", "info", `hostname; echo "$NSLAB_LAB $NSLAB_NODE $NSLAB_SERVICE $NSLAB_DIR $GREETING$SVC_SUP_SECRET"; pwd; readlink /proc/self/ns/net; ls /sys/class/net; grep -c " /run/netns/" /proc/self/mountinfo; exec sleep infinity`)
	info.Env = []string{"GREETING=hello"}
	tl := svcLab(t, []string{"a"}, info)
	if err := upSvc(t, tl, lab.Options{}); err != nil {
		t.Fatal(err)
	}
	ino := strings.TrimSpace(nslabtest.IP(t, "netns", "exec", tl.Name+".a", "readlink", "/proc/self/ns/net"))
	dir := service.NodeDir(tl.Name, "a")
	// Its /sys is the node's (lo alone), and its mount namespace holds
	// none of the machine's named namespaces (kernel.MountBase).
	want := fmt.Sprintf("a\n%s a info %s hello\n%s\n%s\nlo\n0\n", tl.Name, dir, dir, ino)
	if !waitFor(2*time.Second, func() bool { return readLog(t, tl.Name, "a", "info") == want }) {
		t.Errorf("the service's log:\n%s\nwant\n%s", readLog(t, tl.Name, "a", "info"), want)
	}
	s := state(t, tl.Name, "a/info")
	if s.State != service.Running || !s.Ready || s.PID == 0 {
		t.Errorf("state %+v, want running and ready with a pid", s)
	}
	if err := lab.Down(context.Background(), tl.Name, lab.Options{}); err != nil {
		t.Fatal(err)
	}
	if err := exec.Command("kill", "-0", strconv.Itoa(s.PID)).Run(); err == nil {
		t.Errorf("pid %d still runs after down", s.PID)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the node's directory %s is still there after down (%v)", dir, err)
	}
}

// TestServiceRestartPolicies: always restarts a service that exits 0,
// on-failure one that exits 1 but not one that exits 0, no none of them;
// each exit is in the state.
func TestServiceRestartPolicies(t *testing.T) {
	svc := func(name, policy, script string) *topology.Service {
		s := sh("a", name, script)
		s.Restart = policy
		return s
	}
	tl := svcLab(t, []string{"a"},
		svc("always", topology.RestartAlways, "sleep 0.05; exit 0"),
		svc("onfail1", topology.RestartOnFailure, "sleep 0.05; exit 1"),
		svc("onfail0", topology.RestartOnFailure, "sleep 0.05; exit 0"),
		svc("no", topology.RestartNo, "sleep 0.05; exit 1"))
	if err := upSvc(t, tl, lab.Options{}); err != nil {
		t.Fatal(err)
	}
	if !waitFor(5*time.Second, func() bool {
		return state(t, tl.Name, "a/always").Restarts >= 3 && state(t, tl.Name, "a/onfail1").Restarts >= 3
	}) {
		t.Errorf("always restarted %d times, on-failure (exit 1) %d times; want 3 each within 5 s",
			state(t, tl.Name, "a/always").Restarts, state(t, tl.Name, "a/onfail1").Restarts)
	}
	for _, c := range []struct{ ref, exit string }{{"a/onfail0", "exit status 0"}, {"a/no", "exit status 1"}} {
		s := state(t, tl.Name, c.ref)
		if s.State != service.Exited || s.Restarts != 0 || s.Exit != c.exit || s.PID != 0 {
			t.Errorf("%s: %+v, want exited (%s) and not restarted", c.ref, s, c.exit)
		}
	}
}

// journalStarts returns when the lab's supervisor started service ref,
// from its journal.
func journalStarts(t *testing.T, labName, ref string) []time.Time {
	t.Helper()
	data, err := os.ReadFile(service.JournalFile(labName))
	if err != nil {
		t.Fatal(err)
	}
	var out []time.Time
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		var e service.Event
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("journal line %q: %v", line, err)
		}
		if e.Kind == "service-start" && e.Service == ref {
			out = append(out, e.Time)
		}
	}
	return out
}

// TestServiceBackoff: a service that keeps failing is restarted at once
// the first time, then after First, 2*First ... never more than Max
// apart (plus the time to start it).
func TestServiceBackoff(t *testing.T) {
	s := sh("a", "crash", "exit 3")
	s.Restart = topology.RestartAlways
	tl := svcLab(t, []string{"a"}, s)
	bo := service.BackoffPolicy{First: 40 * time.Millisecond, Max: 160 * time.Millisecond, Reset: time.Minute}
	if err := upSvc(t, tl, lab.Options{ServiceBackoff: &bo}); err != nil {
		t.Fatal(err)
	}
	if !waitFor(5*time.Second, func() bool { return state(t, tl.Name, "a/crash").Restarts >= 7 }) {
		t.Fatalf("restarted %d times in 5 s, want 7", state(t, tl.Name, "a/crash").Restarts)
	}
	starts := journalStarts(t, tl.Name, "a/crash")
	var gaps []time.Duration
	for i := 1; i < len(starts); i++ {
		gaps = append(gaps, starts[i].Sub(starts[i-1]))
	}
	t.Logf("gaps between starts: %v", gaps)
	// The delay before restart n (n from 1): 0, First, 2 First, 4 First,
	// then Max. A gap is the delay plus the run (exit 3: a few ms).
	want := []time.Duration{0, 40, 80, 160, 160, 160}
	for i, w := range want {
		w *= time.Millisecond
		if gaps[i] < w {
			t.Errorf("restart %d came %v after the start before, sooner than its delay %v", i+1, gaps[i], w)
		}
		if gaps[i] > w+time.Second {
			t.Errorf("restart %d came %v after the start before, want about %v (the cap is %v)", i+1, gaps[i], w, bo.Max)
		}
	}
}

// journalAt returns when the journal first has event kind of service ref.
func journalAt(t *testing.T, labName, kind, ref string) time.Time {
	t.Helper()
	data, _ := os.ReadFile(service.JournalFile(labName))
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		var e service.Event
		if json.Unmarshal([]byte(line), &e) == nil && e.Kind == kind && e.Service == ref {
			return e.Time
		}
	}
	t.Fatalf("the journal of lab %s has no %s of %s:\n%s", labName, kind, ref, data)
	return time.Time{}
}

func needBusybox(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("busybox"); err != nil {
		t.Skip("needs busybox (httpd) to serve inside a node")
	}
}

// TestServiceReadiness: up returns once each service's check passes
// inside its node (a TCP connect, an HTTP GET to localhost, taken as
// 127.0.0.1 without a lookup, a command), not before: every server waits
// 300 ms before it listens.
func TestServiceReadiness(t *testing.T) {
	needBusybox(t)
	serve := func(name, port string, r *topology.Ready) *topology.Service {
		s := sh("a", name, "cd $NSLAB_DIR && echo ok >index-"+port+".html && sleep 0.3 && touch ready-"+port+" && exec busybox httpd -f -p 127.0.0.1:"+port+" -h .")
		r.Timeout, r.Interval = 10*time.Second, 20*time.Millisecond
		s.Ready = r
		return s
	}
	tl := svcLab(t, []string{"a"},
		serve("tcp", "8081", &topology.Ready{TCP: "8081"}),
		serve("http", "8082", &topology.Ready{HTTP: "http://localhost:8082/index-8082.html"}),
		serve("cmd", "8083", &topology.Ready{Command: []string{"/bin/sh", "-c", "test -f ready-8083"}, Shell: true}))
	start := time.Now()
	if err := upSvc(t, tl, lab.Options{}); err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	if took < 300*time.Millisecond {
		t.Errorf("up returned after %v, before the servers listened (300 ms)", took)
	}
	for _, name := range []string{"tcp", "http", "cmd"} {
		s := state(t, tl.Name, "a/"+name)
		if s.State != service.Running || !s.Ready {
			t.Errorf("a/%s after up: %+v, want running and ready", name, s)
		}
	}
	// Each server touched ready-PORT just before it listened: its ready
	// event comes after (the start event is stamped after the fork, so
	// its distance to ready says less; it fell under 300 ms once in CI).
	for name, port := range map[string]string{"tcp": "8081", "http": "8082", "cmd": "8083"} {
		fi, err := os.Stat(filepath.Join(service.NodeDir(tl.Name, "a"), "ready-"+port))
		if err != nil {
			t.Fatal(err)
		}
		if ready := journalAt(t, tl.Name, "service-ready", "a/"+name); ready.Before(fi.ModTime()) {
			t.Errorf("a/%s was ready at %s, before it was about to listen (%s)", name, ready.Format("15:04:05.000000"), fi.ModTime().Format("15:04:05.000000"))
		}
	}
	out, err := exec.Command("ip", "netns", "exec", tl.Name+".a", "busybox", "wget", "-qO-", "http://127.0.0.1:8082/index-8082.html").CombinedOutput()
	if err != nil || string(out) != "ok\n" {
		t.Errorf("GET inside the node after up: %q, %v", out, err)
	}
}

// TestServiceNotReadyFailsUp: a service that does not become ready in
// time fails up with its name and the last lines of its log, and the lab
// that was being built is removed, its processes with it.
func TestServiceNotReadyFailsUp(t *testing.T) {
	s := sh("a", "web", "echo starting; echo 'bind: address in use' >&2; exec sleep infinity")
	s.Ready = &topology.Ready{TCP: "127.0.0.1:9", Timeout: 500 * time.Millisecond, Interval: 50 * time.Millisecond}
	tl := svcLab(t, []string{"a", "b"}, s, sh("b", "other", "exec sleep infinity"))
	err := upSvc(t, tl, lab.Options{})
	t.Logf("up: %v", err)
	var ne *service.NotReadyError
	if !errors.As(err, &ne) {
		t.Fatalf("up: %v, want a NotReadyError", err)
	}
	if ne.Service != "a/web" || !strings.Contains(ne.Reason, "not ready after 500ms") || !slices.Contains(ne.LogTail, "bind: address in use") {
		t.Errorf("up failed with %+v, want a/web not ready after 500ms and its log's last lines", ne)
	}
	for _, want := range []string{"a/web", "bind: address in use", "nothing of lab " + tl.Name + " was left"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("up's error does not say %q:\n%v", want, err)
		}
	}
	if left := nslabtest.Leftovers(tl.Name); len(left) > 0 {
		t.Errorf("the failed up left %s", strings.Join(left, "; "))
	}
}

// TestServiceAfterAcrossNodes: a service starts once the services it
// comes after, on other nodes, are ready; down stops them in reverse.
func TestServiceAfterAcrossNodes(t *testing.T) {
	server := sh("a", "server", "trap 'echo server-stop >>$NSLAB_DIR/../order; exit 0' TERM; sleep 0.3; touch $NSLAB_DIR/up; while :; do sleep 0.05; done")
	server.Ready = &topology.Ready{Command: []string{"/bin/sh", "-c", "test -f $NSLAB_DIR/up"}, Shell: true, Timeout: 10 * time.Second, Interval: 20 * time.Millisecond}
	// Each is ready once its trap is set: stopped before, it would end
	// without a word.
	client := sh("b", "client", "trap 'echo client-stop >>$NSLAB_DIR/../order; exit 0' TERM; touch trapped; while :; do sleep 0.05; done")
	client.Ready = &topology.Ready{Command: []string{"/bin/sh", "-c", "test -f trapped"}, Shell: true, Timeout: 10 * time.Second, Interval: 20 * time.Millisecond}
	client.After = []topology.ServiceRef{{Node: "a", Service: "server"}}
	tl := svcLab(t, []string{"a", "b"}, client, server)
	if err := upSvc(t, tl, lab.Options{}); err != nil {
		t.Fatal(err)
	}
	ready := journalAt(t, tl.Name, "service-ready", "a/server")
	started := journalAt(t, tl.Name, "service-start", "b/client")
	if started.Before(ready) {
		t.Errorf("b/client started at %v, before a/server was ready at %v", started, ready)
	}
	order := filepath.Join(service.LabNodesDir(tl.Name), "order")
	var got []byte
	service.Stop(context.Background(), tl.Name) // down would remove the file
	got, _ = os.ReadFile(order)
	if string(got) != "client-stop\nserver-stop\n" {
		journal, _ := os.ReadFile(service.JournalFile(tl.Name))
		t.Errorf("stopped in the order\n%s\nwant client then server; the journal:\n%s", got, journal)
	}
}

// alive reports whether pid runs (and is not a zombie).
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	return err == nil && !strings.Contains(string(b), ") Z ")
}

// again parses tl's source anew (a second up of the same file) with
// services svcs.
func again(t *testing.T, tl *topology.Lab, svcs ...*topology.Service) *topology.Lab {
	t.Helper()
	nt, err := topology.Parse(tl.File, tl.Source)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range svcs {
		n := nt.Node(s.Node)
		n.Services = append(n.Services, s)
	}
	return nt
}

// TestServiceChangedOnlyRestart: up on a running lab restarts the
// services whose definition changed; the others keep their pid.
func TestServiceChangedOnlyRestart(t *testing.T) {
	keep, change := sh("a", "keep", "exec sleep infinity"), sh("b", "change", "exec sleep infinity")
	tl := svcLab(t, []string{"a", "b"}, keep, change)
	if err := upSvc(t, tl, lab.Options{}); err != nil {
		t.Fatal(err)
	}
	k0, c0 := state(t, tl.Name, "a/keep").PID, state(t, tl.Name, "b/change").PID
	changed := sh("b", "change", "exec sleep 1000")
	if err := lab.Up(context.Background(), again(t, tl, keep, changed), tl.Source, lab.Options{}); err != nil {
		t.Fatal(err)
	}
	k1, c1 := state(t, tl.Name, "a/keep").PID, state(t, tl.Name, "b/change").PID
	if k1 != k0 {
		t.Errorf("the unchanged service's pid went from %d to %d", k0, k1)
	}
	if c1 == c0 || c1 == 0 || alive(c0) {
		t.Errorf("the changed service: pid %d before, %d after (the old one alive: %v); want a new process and the old one ended", c0, c1, alive(c0))
	}
	if args := string(must(os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", c1)))); !strings.Contains(args, "1000") {
		t.Errorf("the changed service runs %q, want the new command", args)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// TestServiceFailsChangeOfRunningLab: a new service that is not ready in
// time fails up on a running lab, which stays as it was: its other
// service keeps its pid, the new one is stopped.
func TestServiceFailsChangeOfRunningLab(t *testing.T) {
	keep := sh("a", "keep", "exec sleep infinity")
	tl := svcLab(t, []string{"a"}, keep)
	if err := upSvc(t, tl, lab.Options{}); err != nil {
		t.Fatal(err)
	}
	k0 := state(t, tl.Name, "a/keep").PID
	bad := sh("a", "bad", "echo cannot listen; exec sleep infinity")
	bad.Ready = &topology.Ready{TCP: "9", Timeout: 300 * time.Millisecond, Interval: 50 * time.Millisecond}
	err := lab.Up(context.Background(), again(t, tl, keep, bad), tl.Source, lab.Options{})
	if err == nil || !strings.Contains(err.Error(), "a/bad") || !strings.Contains(err.Error(), "cannot listen") || !strings.Contains(err.Error(), "running as before") {
		t.Fatalf("up: %v, want a/bad not ready with its log, the lab running as before", err)
	}
	if !lab.Exists(tl.Name) || state(t, tl.Name, "a/keep").PID != k0 || !alive(k0) {
		t.Errorf("the running lab did not stay as it was: exists %v, a/keep pid %d (was %d)", lab.Exists(tl.Name), state(t, tl.Name, "a/keep").PID, k0)
	}
	if s := state(t, tl.Name, "a/bad"); s.State != service.Failed || s.PID != 0 {
		t.Errorf("a/bad: %+v, want failed with no process", s)
	}
	procs := nslabtest.IP(t, "netns", "pids", tl.Name+".a")
	if strings.Fields(procs)[0] != strconv.Itoa(k0) || len(strings.Fields(procs)) != 1 {
		t.Errorf("processes in node a: %s, want only a/keep (%d)", procs, k0)
	}
}

// supervisorPID returns the pid of the lab's supervisor.
func supervisorPID(t *testing.T, labName string) int {
	t.Helper()
	st, err := service.Read(labName)
	if err != nil || st.Supervisor == 0 {
		t.Fatalf("lab %s has no supervisor running: %+v %v", labName, st, err)
	}
	return st.Supervisor
}

// killSupervisor kills the lab's supervisor with SIGKILL and waits until
// it is gone.
func killSupervisor(t *testing.T, labName string) int {
	t.Helper()
	pid := supervisorPID(t, labName)
	if err := exec.Command("kill", "-9", strconv.Itoa(pid)).Run(); err != nil {
		t.Fatal(err)
	}
	if !waitFor(2*time.Second, func() bool { return !alive(pid) }) {
		t.Fatalf("the supervisor %d still runs after SIGKILL", pid)
	}
	return pid
}

// TestSupervisorKilledThenUpAdopts: services outlive a supervisor killed
// with SIGKILL; the next up starts a supervisor that adopts them (same
// pids) and watches them (it restarts one that is killed then); down
// ends everything.
func TestSupervisorKilledThenUpAdopts(t *testing.T) {
	a, b := sh("a", "one", "exec sleep infinity"), sh("b", "two", "exec sleep infinity")
	b.Restart = topology.RestartAlways
	tl := svcLab(t, []string{"a", "b"}, a, b)
	if err := upSvc(t, tl, lab.Options{}); err != nil {
		t.Fatal(err)
	}
	p1, p2 := state(t, tl.Name, "a/one").PID, state(t, tl.Name, "b/two").PID
	old := killSupervisor(t, tl.Name)
	if !alive(p1) || !alive(p2) {
		t.Fatalf("services died with their supervisor: %d alive %v, %d alive %v", p1, alive(p1), p2, alive(p2))
	}
	if err := lab.Up(context.Background(), again(t, tl, a, b), tl.Source, lab.Options{}); err != nil {
		t.Fatal(err)
	}
	if sup := supervisorPID(t, tl.Name); sup == old {
		t.Fatalf("no new supervisor: %d", sup)
	}
	if q1, q2 := state(t, tl.Name, "a/one").PID, state(t, tl.Name, "b/two").PID; q1 != p1 || q2 != p2 {
		t.Errorf("after up: pids %d and %d, want the adopted %d and %d", q1, q2, p1, p2)
	}
	exec.Command("kill", "-9", strconv.Itoa(p2)).Run()
	if !waitFor(2*time.Second, func() bool { s := state(t, tl.Name, "b/two"); return s.PID != 0 && s.PID != p2 && s.Ready }) {
		t.Errorf("the adopted b/two, killed, was not restarted: %+v", state(t, tl.Name, "b/two"))
	}
	if s := state(t, tl.Name, "b/two"); s.Restarts != 1 || !strings.Contains(s.Exit, "status unknown") {
		t.Errorf("b/two after its restart: %+v, want one restart of an adopted process", s)
	}
}

// TestSupervisorKilledThenDown: down ends the services of a lab whose
// supervisor was killed with SIGKILL (the leak check sees every process
// of the lab).
func TestSupervisorKilledThenDown(t *testing.T) {
	a := sh("a", "one", "sleep infinity & exec sleep infinity") // a child in its group too
	a.StopGrace = 100 * time.Millisecond
	tl := svcLab(t, []string{"a"}, a, sh("a", "two", "trap '' TERM; while :; do sleep 0.1; done"))
	if err := upSvc(t, tl, lab.Options{}); err != nil {
		t.Fatal(err)
	}
	p1, p2 := state(t, tl.Name, "a/one").PID, state(t, tl.Name, "a/two").PID
	killSupervisor(t, tl.Name)
	start := time.Now()
	if err := lab.Down(context.Background(), tl.Name, lab.Options{}); err != nil {
		t.Fatal(err)
	}
	t.Logf("down took %v", time.Since(start))
	if alive(p1) || alive(p2) {
		t.Errorf("after down: %d alive %v, %d alive %v", p1, alive(p1), p2, alive(p2))
	}
}

// TestServiceLogCap: a service that prints as fast as it can (yes, more
// than 1 GB/s here) does not fill /run: its log is rotated at the cap,
// the old file keeps the last cap bytes. How far over the cap the log
// gets depends on how soon the supervisor runs after a write (10-20× a
// 1 MiB cap on this loaded 2-core VM; yes writes about 1.3 MB a ms): the
// test reports it and fails only if the log grows unchecked (yes writes
// gigabytes in the 2 s).
func TestServiceLogCap(t *testing.T) {
	const capSize = 1 << 20
	s := sh("a", "yes", "exec yes")
	tl := svcLab(t, []string{"a"}, s)
	if err := upSvc(t, tl, lab.Options{ServiceLogCap: capSize}); err != nil {
		t.Fatal(err)
	}
	path := service.LogPath(tl.Name, "a", "yes")
	var most int64
	var rotations int
	var prev int64
	for end := time.Now().Add(2 * time.Second); time.Now().Before(end); time.Sleep(time.Millisecond) {
		fi, err := os.Stat(path)
		if err != nil {
			continue
		}
		if fi.Size() < prev {
			rotations++
		}
		prev = fi.Size()
		most = max(most, fi.Size())
	}
	old, err := os.Stat(path + ".1")
	if err != nil {
		t.Fatalf("no rotated log: %v", err)
	}
	t.Logf("cap %d B: the log reached %d B at most (%.1f× the cap), %d rotations seen in 2 s; the old file holds %d B",
		capSize, most, float64(most)/capSize, rotations, old.Size())
	if rotations == 0 {
		t.Errorf("the log was never rotated in 2 s of yes")
	}
	if most > 256*capSize || old.Size() > capSize {
		t.Errorf("the log grew to %d B and its old file to %d B, far over the cap %d B", most, old.Size(), capSize)
	}
	if !strings.HasPrefix(string(must(os.ReadFile(path + ".1")))[:10], "y\ny\n") {
		t.Errorf("the old file does not hold the service's output")
	}
}

// TestServiceNodeRemade: a node that a change makes anew (a sysctl of its
// own left the file) runs services, which count as its processes: up
// refuses the change without --replace, naming the service's process;
// with it, the service is started anew in the new namespace (its digest
// covers the namespace), the other node's service keeps its pid.
func TestServiceNodeRemade(t *testing.T) {
	nslabtest.RequireRoot(t)
	name := nslabtest.Name("sup")
	nslabtest.CheckLeaksAtEnd(t, name)
	src := func(sysctl bool) []byte {
		s := "name: " + name + "\nnodes:\n  a:\n"
		if sysctl {
			s += "    sysctls: {net.ipv4.ip_forward: 1}\n"
		}
		return []byte(s + "  b: {}\n")
	}
	parse := func(sysctl bool) *topology.Lab {
		tl, err := topology.Parse(name+".yaml", src(sysctl))
		if err != nil {
			t.Fatal(err)
		}
		tl.Node("a").Services = []*topology.Service{sh("a", "one", "exec sleep infinity")}
		tl.Node("b").Services = []*topology.Service{sh("b", "two", "exec sleep infinity")}
		return tl
	}
	tl := parse(true)
	if err := upSvc(t, tl, lab.Options{}); err != nil {
		t.Fatal(err)
	}
	p1, p2 := state(t, tl.Name, "a/one").PID, state(t, tl.Name, "b/two").PID
	ino0 := nslabtest.IP(t, "netns", "exec", name+".a", "readlink", "/proc/self/ns/net")
	err := lab.Up(context.Background(), parse(false), src(false), lab.Options{})
	var re *lab.ReplaceError
	if !errors.As(err, &re) || !slices.ContainsFunc(re.Processes, func(p kernel.Process) bool { return p.PID == p1 }) {
		t.Fatalf("up that remakes node a without --replace: %v, want a ReplaceError naming pid %d", err, p1)
	}
	if err := lab.Up(context.Background(), parse(false), src(false), lab.Options{Replace: true}); err != nil {
		t.Fatal(err)
	}
	q1, q2 := state(t, tl.Name, "a/one").PID, state(t, tl.Name, "b/two").PID
	if q2 != p2 {
		t.Errorf("b/two's pid went from %d to %d; its node was not remade", p2, q2)
	}
	ino1 := nslabtest.IP(t, "netns", "exec", name+".a", "readlink", "/proc/self/ns/net")
	if ino1 == ino0 {
		t.Fatalf("node a was not made anew (namespace %s before and after)", ino0)
	}
	if q1 == p1 || q1 == 0 || alive(p1) {
		t.Fatalf("a/one: pid %d before, %d after (the old alive: %v); want it started anew", p1, q1, alive(p1))
	}
	if got, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/net", q1)); got+"\n" != ino1 {
		t.Errorf("a/one runs in %s, not in node a's new namespace %s", got, ino1)
	}
}

// TestServiceNotReadyKeepFailed: with KeepFailed (--keep-failed), a lab
// whose service did not become ready is left as it is for inspection:
// the service stopped and failed, its log there; down removes it all.
func TestServiceNotReadyKeepFailed(t *testing.T) {
	s := sh("a", "web", "echo no port for you; exec sleep infinity")
	s.Ready = &topology.Ready{TCP: "9", Timeout: 300 * time.Millisecond, Interval: 50 * time.Millisecond}
	later := sh("a", "later", "exec sleep infinity")
	later.After = []topology.ServiceRef{{Node: "a", Service: "web"}}
	tl := svcLab(t, []string{"a"}, s, sh("a", "side", "exec sleep infinity"), later)
	err := upSvc(t, tl, lab.Options{KeepFailed: true})
	if err == nil || !strings.Contains(err.Error(), "--keep-failed") {
		t.Fatalf("up: %v, want a/web not ready and the lab kept", err)
	}
	if !lab.Exists(tl.Name) {
		t.Fatal("the lab was removed despite KeepFailed")
	}
	if st := state(t, tl.Name, "a/web"); st.State != service.Failed || st.PID != 0 {
		t.Errorf("a/web: %+v, want failed and stopped", st)
	}
	if st := state(t, tl.Name, "a/side"); st.State != service.Running || !alive(st.PID) {
		t.Errorf("a/side: %+v, want running", st)
	}
	// A service after the failed one waits, saying for what.
	deadline := time.Now().Add(2 * time.Second)
	for {
		st := state(t, tl.Name, "a/later")
		if st.State == service.Waiting && st.Reason == "waits for a/web (failed)" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a/later: %+v, want waiting with the reason %q", st, "waits for a/web (failed)")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if log := readLog(t, tl.Name, "a", "web"); log != "no port for you\n" {
		t.Errorf("a/web's log: %q", log)
	}
}

// TestSupervisorEndsOrphans: a process of a service that no state lists
// (its supervisor was killed after starting it, before writing it down;
// played here by a process started by hand with the service's
// environment) is ended by the next supervisor; the listed one is
// adopted.
func TestSupervisorEndsOrphans(t *testing.T) {
	one := sh("a", "one", "exec sleep infinity")
	tl := svcLab(t, []string{"a"}, one)
	if err := upSvc(t, tl, lab.Options{}); err != nil {
		t.Fatal(err)
	}
	p1 := state(t, tl.Name, "a/one").PID
	orphan := exec.Command("ip", "netns", "exec", tl.Name+".a", "sleep", "infinity")
	orphan.Env = append(os.Environ(), "NSLAB_LAB="+tl.Name, "NSLAB_NODE=a", "NSLAB_SERVICE=one")
	orphan.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := orphan.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- orphan.Wait() }()
	killSupervisor(t, tl.Name)
	if err := lab.Up(context.Background(), again(t, tl, one), tl.Source, lab.Options{}); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		t.Logf("the orphan ended: %v", err)
	case <-time.After(5 * time.Second):
		orphan.Process.Kill()
		t.Errorf("the orphan %d still runs after up", orphan.Process.Pid)
	}
	if q := state(t, tl.Name, "a/one").PID; q != p1 || !alive(p1) {
		t.Errorf("a/one: pid %d after up, want the adopted %d", q, p1)
	}
}

// TestServiceAsUser: a service with a user runs as that user and can
// write its node's directory (owned by it), though the lab's state
// directory is root's alone; its log stays root's.
func TestServiceAsUser(t *testing.T) {
	s := sh("a", "nobody", "id -u; touch $NSLAB_DIR/data && echo wrote; exec sleep infinity")
	s.User = "nobody"
	tl := svcLab(t, []string{"a"}, s)
	if err := upSvc(t, tl, lab.Options{}); err != nil {
		t.Fatal(err)
	}
	if !waitFor(2*time.Second, func() bool { return readLog(t, tl.Name, "a", "nobody") == "65534\nwrote\n" }) {
		t.Errorf("the service's log: %q, want it to run as 65534 and write its directory", readLog(t, tl.Name, "a", "nobody"))
	}
	fi, err := os.Stat(service.LogPath(tl.Name, "a", "nobody"))
	if err != nil || fi.Mode().Perm() != 0o600 || fi.Sys().(*syscall.Stat_t).Uid != 0 {
		t.Errorf("the log: %v %v, want root's, 0600", fi.Mode(), err)
	}
}

// TestServiceBackoffResets: a service that ran Reset or longer before it
// exited is restarted at once, as the first time, however often it
// exited before.
func TestServiceBackoffResets(t *testing.T) {
	s := sh("a", "steady", "sleep 0.3; exit 1")
	s.Restart = topology.RestartOnFailure
	tl := svcLab(t, []string{"a"}, s)
	bo := service.BackoffPolicy{First: 2 * time.Second, Max: 2 * time.Second, Reset: 200 * time.Millisecond}
	if err := upSvc(t, tl, lab.Options{ServiceBackoff: &bo}); err != nil {
		t.Fatal(err)
	}
	if !waitFor(5*time.Second, func() bool { return state(t, tl.Name, "a/steady").Restarts >= 4 }) {
		t.Fatalf("restarted %d times in 5 s, want 4: a run of 300 ms resets the backoff of 2 s", state(t, tl.Name, "a/steady").Restarts)
	}
	starts := journalStarts(t, tl.Name, "a/steady")
	for i := 1; i < len(starts); i++ {
		if gap := starts[i].Sub(starts[i-1]); gap >= bo.First {
			t.Errorf("restart %d came %v after the start before: the backoff was not reset", i, gap)
		}
	}
}

// TestSupervisorWatchesWhileStopping: while a changed service that
// ignores its stop signal takes its grace to end (up waits for it), the
// supervisor goes on watching the others: one killed meanwhile is
// restarted at once, not after the grace.
func TestSupervisorWatchesWhileStopping(t *testing.T) {
	// Ready once it ignores SIGTERM.
	slow := sh("a", "slow", "trap '' TERM; touch trapped; while :; do sleep 0.05; done")
	slow.StopGrace = 3 * time.Second
	slow.Ready = &topology.Ready{Command: []string{"/bin/sh", "-c", "test -f trapped"}, Shell: true, Timeout: 10 * time.Second, Interval: 20 * time.Millisecond}
	quick := sh("a", "quick", "exec sleep infinity")
	quick.Restart = topology.RestartAlways
	tl := svcLab(t, []string{"a"}, quick, slow)
	if err := upSvc(t, tl, lab.Options{}); err != nil {
		t.Fatal(err)
	}
	changed := sh("a", "slow", "trap '' TERM; while :; do sleep 0.06; done")
	changed.StopGrace = 3 * time.Second
	done := make(chan error, 1)
	start := time.Now()
	go func() { done <- lab.Up(context.Background(), again(t, tl, quick, changed), tl.Source, lab.Options{}) }()
	if !waitFor(2*time.Second, func() bool { return state(t, tl.Name, "a/slow").State == service.Stopping }) {
		t.Fatalf("a/slow is not being stopped: %+v", state(t, tl.Name, "a/slow"))
	}
	q := state(t, tl.Name, "a/quick").PID
	exec.Command("kill", "-9", strconv.Itoa(q)).Run()
	restarted := waitFor(time.Second, func() bool { s := state(t, tl.Name, "a/quick"); return s.PID != 0 && s.PID != q })
	took := time.Since(start)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !restarted {
		t.Errorf("a/quick, killed while a/slow took its grace, was not running again within 1 s: %+v", state(t, tl.Name, "a/quick"))
	}
	if took >= slow.StopGrace {
		t.Errorf("the check ran %v after up began, after a/slow's grace (%v): it proves nothing", took, slow.StopGrace)
	}
}

// TestServicesRemovedWhileSupervisorKilled: the file loses its services
// while the supervisor is dead (killed -9): up --replace (services that
// run and that the file drops are stopped only with it) stops what it
// left running.
func TestServicesRemovedWhileSupervisorKilled(t *testing.T) {
	tl := svcLab(t, []string{"a"}, sh("a", "one", "exec sleep infinity"))
	if err := upSvc(t, tl, lab.Options{}); err != nil {
		t.Fatal(err)
	}
	p := state(t, tl.Name, "a/one").PID
	killSupervisor(t, tl.Name)
	if err := lab.Up(context.Background(), again(t, tl), tl.Source, lab.Options{Replace: true}); err != nil {
		t.Fatal(err)
	}
	if alive(p) {
		t.Errorf("a/one (pid %d) still runs after up without it", p)
	}
}

// TestDownEndsUnlistedServiceProcesses: down ends a process of the lab's
// service that no state lists and that lives outside the lab's nodes
// (played by a process started by hand in the host's namespace with the
// service's environment), with the supervisor killed: nothing of the
// lab is left.
func TestDownEndsUnlistedServiceProcesses(t *testing.T) {
	tl := svcLab(t, []string{"a"}, sh("a", "one", "exec sleep infinity"))
	if err := upSvc(t, tl, lab.Options{}); err != nil {
		t.Fatal(err)
	}
	stray := exec.Command("sleep", "infinity")
	stray.Env = append(os.Environ(), "NSLAB_LAB="+tl.Name, "NSLAB_NODE=a", "NSLAB_SERVICE=one")
	stray.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := stray.Start(); err != nil {
		t.Fatal(err)
	}
	ended := make(chan error, 1)
	go func() { ended <- stray.Wait() }()
	killSupervisor(t, tl.Name)
	if err := lab.Down(context.Background(), tl.Name, lab.Options{}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ended:
	case <-time.After(time.Second):
		stray.Process.Kill()
		t.Errorf("the unlisted process %d still ran after down", stray.Process.Pid)
	}
}

// TestServiceHostname: a service answers to its node's hostname as the
// file gives it (hostname:), its FQDN and its lookup too (the lab's hosts
// file over /etc/hosts), without asking any resolver.
func TestServiceHostname(t *testing.T) {
	nslabtest.RequireRoot(t)
	name := nslabtest.Name("sup")
	nslabtest.CheckLeaksAtEnd(t, name)
	tl, err := topology.Parse(name+".yaml", []byte("name: "+name+"\nnodes:\n  a: {hostname: web1}\n"))
	if err != nil {
		t.Fatal(err)
	}
	tl.Node("a").Services = []*topology.Service{sh("a", "names", "hostname; hostname -f; getent hosts web1 | wc -l; exec sleep infinity")}
	if err := upSvc(t, tl, lab.Options{}); err != nil {
		t.Fatal(err)
	}
	want := "web1\nweb1." + name + "\n1\n"
	if !waitFor(2*time.Second, func() bool { return readLog(t, name, "a", "names") == want }) {
		t.Errorf("the service printed %q, want %q", readLog(t, name, "a", "names"), want)
	}
}

// TestUpRestartsKilledService: a service (restart: no) killed by hand is
// started again by the next up, as a failed one is; a one-shot that
// exited 0 stays done. Before, up said "nothing to change" (up --repair
// too) and the service stayed exited ("signal: killed").
func TestUpRestartsKilledService(t *testing.T) {
	tl := svcLab(t, []string{"a"}, sh("a", "long", "exec sleep 600"), sh("a", "once", "exit 0"))
	if err := upSvc(t, tl, lab.Options{}); err != nil {
		t.Fatal(err)
	}
	pid := state(t, tl.Name, "a/long").PID
	if pid == 0 || !waitFor(5*time.Second, func() bool { return state(t, tl.Name, "a/once").State == service.Exited }) {
		t.Fatalf("after up: long %+v, once %+v", state(t, tl.Name, "a/long"), state(t, tl.Name, "a/once"))
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if !waitFor(5*time.Second, func() bool { return state(t, tl.Name, "a/long").State == service.Exited }) {
		t.Fatalf("killed: %+v", state(t, tl.Name, "a/long"))
	}
	onceStarts := len(journalStarts(t, tl.Name, "a/once"))
	if err := lab.Up(context.Background(), tl, tl.Source, lab.Options{}); err != nil {
		t.Fatal(err)
	}
	if s := state(t, tl.Name, "a/long"); s.State != service.Running || s.PID == 0 || s.PID == pid {
		t.Errorf("after up, the killed service is %+v, want running anew", s)
	}
	if n := len(journalStarts(t, tl.Name, "a/once")); n != onceStarts {
		t.Errorf("the one-shot that exited 0 was started again (%d starts, %d before)", n, onceStarts)
	}
}
