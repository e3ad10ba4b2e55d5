package main

import (
	"bytes"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/nslab/nslab/lab"
	"github.com/nslab/nslab/service"
)

var now = time.Date(2026, 12, 6, 7, 0, 0, 0, time.UTC)

func testServices() map[string][]service.ServiceState {
	return map[string][]service.ServiceState{"etcd": {
		{Node: "e1", Name: "etcd", State: service.Running, PID: 4242, Ready: true, Since: now.Add(-75 * time.Second)},
		{Node: "e1", Name: "web", State: service.Backoff, PID: 4300, Restarts: 3, Exit: "exit status 1", Since: now.Add(-time.Second)},
		{Node: "e2", Name: "etcd", State: service.Starting, PID: 4250, Since: now.Add(-2 * time.Second)},
		{Node: "e3", Name: "etcd", State: service.Failed, Exit: "signal: killed", Reason: "not ready in 30s"},
	}}
}

// TestPsWithServices: each service's process carries it; a service
// without a process (backing off, failed) has a line of its own with pid
// -, even when its old pid is in the state; other processes show dashes.
func TestPsWithServices(t *testing.T) {
	procs := []lab.Process{
		{Lab: "etcd", Node: "e1", PID: 4242, Args: []string{"etcd", "--name", "e1"}},
		{Lab: "etcd", Node: "e1", PID: 100, Args: []string{"bash"}},
		{Lab: "etcd", Node: "e2", PID: 4250, Args: []string{"etcd", "--name", "e2"}},
		{Lab: "seed", Node: "ns1", PID: 7, Args: []string{"sleep", "1"}},
	}
	rows := psRows(procs, testServices())
	var b bytes.Buffer
	if err := writePs(&b, rows, now); err != nil {
		t.Fatal(err)
	}
	want := `LAB   NODE  PID   SERVICE  STATE     READY  RESTARTS  UPTIME  COMMAND
etcd  e1    4242  etcd     running   yes    0         1m15s   etcd --name e1
etcd  e1    -     web      backoff   no     3         -       -
etcd  e1    100   -        -         -      -         -       bash
etcd  e2    4250  etcd     starting  no     0         2s      etcd --name e2
etcd  e3    -     etcd     failed    no     0         -       -
seed  ns1   7     -        -         -      -         -       sleep 1
`
	if d := cmp.Diff(want, b.String()); d != "" {
		t.Errorf("ps (-want +got):\n%s", d)
	}
	if rows[1].PID != 0 || rows[1].Service.Name != "web" {
		t.Errorf("a service backing off: %+v, want pid 0", rows[1])
	}
}

// TestPsWithoutServices: labs without services keep ps's table as it was.
func TestPsWithoutServices(t *testing.T) {
	rows := psRows([]lab.Process{{Lab: "seed", Node: "ns1", PID: 7, Args: []string{"sleep", "1"}}}, nil)
	var b bytes.Buffer
	writePs(&b, rows, now)
	if want := "LAB   NODE  PID  COMMAND\nseed  ns1   7    sleep 1\n"; b.String() != want {
		t.Errorf("ps:\n%s\nwant:\n%s", b.String(), want)
	}
}

func TestStatusServices(t *testing.T) {
	var b bytes.Buffer
	if err := writeServices(&b, []string{"etcd"}, testServices(), now); err != nil {
		t.Fatal(err)
	}
	want := `LAB   NODE  SERVICE  STATE     READY  PID   RESTARTS  UPTIME  LAST EXIT
etcd  e1    etcd     running   yes    4242  0         1m15s   -
etcd  e1    web      backoff   no     -     3         -       exit status 1
etcd  e2    etcd     starting  no     4250  0         2s      -
etcd  e3    etcd     failed    no     -     0         -       signal: killed (not ready in 30s)
`
	if d := cmp.Diff(want, b.String()); d != "" {
		t.Errorf("status services (-want +got):\n%s", d)
	}
}

func TestShortDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		850 * time.Millisecond:                "850ms",
		42*time.Second + 400*time.Millisecond: "42s",
		5*time.Minute + 3*time.Second:         "5m3s",
		2*time.Hour + 5*time.Minute:           "2h5m",
		76 * time.Hour:                        "3d4h",
	} {
		if got := short(d); got != want {
			t.Errorf("short(%v) = %s, want %s", d, got, want)
		}
	}
	if got := uptime(service.ServiceState{State: service.Running, PID: 1, Since: now.Add(-time.Minute)}, now); got != "1m0s" {
		t.Errorf("uptime of a running service without a start time: %s, want its time since, 1m0s", got)
	}
	if got := uptime(service.ServiceState{State: service.Exited, PID: 1, Since: now.Add(-time.Minute)}, now); got != "-" {
		t.Errorf("uptime of an exited service: %s, want -", got)
	}
}
