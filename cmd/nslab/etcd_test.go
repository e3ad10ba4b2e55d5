package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nslab/nslab/nslabtest"
)

// requireEtcd skips the test unless Debian's etcd-server and etcd-client
// (etcd and etcdctl) are installed.
func requireEtcd(t *testing.T) {
	t.Helper()
	for _, b := range []string{"etcd", "etcdctl"} {
		if _, err := exec.LookPath(b); err != nil {
			t.Skipf("needs %s (apt-get install etcd-server etcd-client; .ci/run installs them)", b)
		}
	}
}

// etcdLab writes examples/etcd.yaml under a unique lab name and a test
// subnet, and registers its down and leak check.
func etcdLab(t *testing.T) (file, name, subnet string) {
	t.Helper()
	nslabtest.RequireRoot(t)
	requireEtcd(t)
	b, err := os.ReadFile("../../examples/etcd.yaml")
	if err != nil {
		t.Fatal(err)
	}
	subnet = nslabtest.Subnet(t)
	name = nslabtest.Name("svcetcd")
	text := strings.ReplaceAll(string(b), "10.72.0.", subnet+".")
	text = strings.Replace(text, "\nname: etcd\n", "\nname: "+name+"\n", 1)
	if !strings.Contains(text, "name: "+name) {
		t.Fatal("examples/etcd.yaml has no line name: etcd")
	}
	file = filepath.Join(t.TempDir(), name+".yaml")
	if err := os.WriteFile(file, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	downAtEnd(t, name)
	return file, name, subnet
}

// etcdctl runs etcdctl in a node of the lab.
func etcdctl(t *testing.T, name, node string, args ...string) result {
	t.Helper()
	return nslab(t, "", append([]string{"exec", name + "." + node, "--", "etcdctl"}, args...)...)
}

// leaderOf asks the endpoints which of them leads: it returns the
// endpoint whose member is the leader, or "" when none of them says so.
func leaderOf(t *testing.T, name string, endpoints []string) string {
	t.Helper()
	r := etcdctl(t, name, "client", "--command-timeout", "1s", "--endpoints", strings.Join(endpoints, ","), "endpoint", "status", "-w", "json")
	var st []struct {
		Endpoint string
		Status   struct {
			Header struct {
				MemberID uint64 `json:"member_id"`
			}
			Leader uint64
		}
	}
	if err := json.Unmarshal([]byte(r.stdout), &st); err != nil {
		return ""
	}
	for _, s := range st {
		if s.Status.Leader != 0 && s.Status.Leader == s.Status.Header.MemberID {
			return s.Endpoint
		}
	}
	return ""
}

// eventually retries f every 100 ms until it returns true or limit
// passes, and says how long it took.
func eventually(limit time.Duration, f func() bool) (time.Duration, bool) {
	start := time.Now()
	for {
		if f() {
			return time.Since(start), true
		}
		if time.Since(start) > limit {
			return time.Since(start), false
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestEtcdPartition runs examples/etcd.yaml, Debian's etcd as services,
// and tells the partition story: a key written and read from the client
// node; the leader partitioned away from the other two members; the
// majority elects a new leader and takes a write, while the old leader's
// side refuses one; healed, all three members hold the key.
func TestEtcdPartition(t *testing.T) {
	file, name, subnet := etcdLab(t)
	start := time.Now()
	if r := nslab(t, "", "up", file); r.code != 0 {
		t.Fatalf("up: code %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	t.Logf("up with three etcd members ready in %v", time.Since(start).Round(time.Millisecond))
	members := []string{"e1", "e2", "e3"}
	endpoint := map[string]string{}
	var all []string
	for i, m := range members {
		endpoint[m] = subnet + ".1" + string(rune('1'+i)) + ":2379"
		all = append(all, endpoint[m])
	}
	// up returned: every member answers /health, so the cluster serves
	// (tried again for 10 s only if a loaded machine made it elect anew).
	tries := 0
	var r result
	if took, ok := eventually(10*time.Second, func() bool {
		tries++
		r = etcdctl(t, name, "client", "--endpoints", strings.Join(all, ","), "put", "k1", "v1")
		return r.code == 0 && r.stdout == "OK\n"
	}); !ok {
		t.Fatalf("put k1 after up, for %v: code %d\n%s%s", took, r.code, r.stdout, r.stderr)
	} else if tries > 1 {
		t.Logf("put k1 right after up took %d tries, %v", tries, took)
	}
	if r := etcdctl(t, name, "client", "--endpoints", strings.Join(all, ","), "get", "k1", "--print-value-only"); r.stdout != "v1\n" {
		t.Fatalf("get k1: code %d, %q\n%s", r.code, r.stdout, r.stderr)
	}
	old := leaderOf(t, name, all)
	if old == "" {
		t.Fatal("no member says it leads")
	}
	var leader string
	var rest, restEP []string
	for _, m := range members {
		if endpoint[m] == old {
			leader = m
		} else {
			rest = append(rest, m)
			restEP = append(restEP, endpoint[m])
		}
	}
	if r := nslab(t, "", "partition", "--lab", name, leader, strings.Join(rest, ",")+",client"); r.code != 0 {
		t.Fatalf("partition: %s", r.stderr)
	}
	var now string
	took, ok := eventually(15*time.Second, func() bool { now = leaderOf(t, name, restEP); return now != "" })
	if !ok {
		t.Fatalf("%v after partitioning %s away, %s elected no leader", took, leader, strings.Join(rest, " and "))
	}
	t.Logf("%s partitioned away: %s leads after %v", leader, now, took.Round(time.Millisecond))
	// A loaded machine may make the two hold one more election: the
	// write is tried until it is taken (15 s).
	if took, ok := eventually(15*time.Second, func() bool {
		r = etcdctl(t, name, "client", "--command-timeout", "3s", "--endpoints", strings.Join(restEP, ","), "put", "k2", "v2")
		return r.code == 0 && r.stdout == "OK\n"
	}); !ok {
		t.Fatalf("the majority refused put k2 for %v: code %d\n%s%s", took, r.code, r.stdout, r.stderr)
	}
	r = etcdctl(t, name, leader, "--command-timeout", "1s", "--endpoints", "127.0.0.1:2379", "put", "k3", "v3")
	if r.code == 0 {
		t.Fatalf("the old leader %s, alone, took put k3: %s", leader, r.stdout)
	}
	t.Logf("the old leader refused a write: %s", lastLine(r.stderr))

	if r := nslab(t, "", "heal", name); r.code != 0 {
		t.Fatalf("heal: %s", r.stderr)
	}
	for _, m := range members {
		var v string
		took, ok := eventually(15*time.Second, func() bool {
			r := etcdctl(t, name, m, "--endpoints", "127.0.0.1:2379", "get", "k2", "--print-value-only", "--consistency=s")
			v = r.stdout
			return v == "v2\n"
		})
		if !ok {
			t.Errorf("%v after heal, %s holds k2=%q, want v2", took, m, v)
		}
	}
	if r := etcdctl(t, name, "client", "--endpoints", strings.Join(all, ","), "get", "k3", "--print-value-only"); r.code != 0 || r.stdout != "" {
		t.Errorf("get k3 after heal: code %d, %q, want nothing: the write was refused\n%s", r.code, r.stdout, r.stderr)
	}

	// The services show in ps and status, and their logs are etcd's own.
	r = nslab(t, "", "ps", "-o", "json", name)
	var procs []struct {
		Node    string
		PID     int
		Service *struct{ Name, State string }
	}
	if err := json.Unmarshal([]byte(r.stdout), &procs); err != nil {
		t.Fatalf("ps -o json: %v\n%s%s", err, r.stdout, r.stderr)
	}
	var running []string
	for _, p := range procs {
		if p.Service != nil && p.Service.Name == "etcd" && p.Service.State == "running" && p.PID > 0 {
			running = append(running, p.Node)
		}
	}
	if slices.Sort(running); !slices.Equal(running, members) {
		t.Errorf("ps: etcd running in %v, want %v\n%s", running, members, r.stdout)
	}
	r = nslab(t, "", "status", "-o", "json", name)
	var st []struct {
		Name     string
		Services []struct {
			Node, Name, State string
			Ready             bool
			PID               int
		}
	}
	if err := json.Unmarshal([]byte(r.stdout), &st); err != nil || len(st) != 1 {
		t.Fatalf("status -o json: %v\n%s%s", err, r.stdout, r.stderr)
	}
	var ready []string
	for _, s := range st[0].Services {
		if s.Name == "etcd" && s.State == "running" && s.Ready && s.PID > 0 {
			ready = append(ready, s.Node)
		}
	}
	if !slices.Equal(ready, members) {
		t.Errorf("status -o json: etcd ready in %v, want %v\n%s", ready, members, r.stdout)
	}
	if got, _ := complete(t, "logs", name+"."); !slices.Contains(got, name+".e2/etcd") || slices.Contains(got, name+".client") {
		t.Errorf("completion of logs %s.: %q, want the members and their services, not the client (no services)", name, got)
	}
	if r := nslab(t, "", "logs", "-n", "5", name+".e1/etcd"); r.code != 0 || strings.Count(r.stdout, "\n") != 5 || !strings.Contains(r.stdout, `"level"`) {
		t.Errorf("logs -n 5 e1/etcd: code %d, want 5 lines of etcd's log\n%s%s", r.code, r.stdout, r.stderr)
	}
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}
