package lab

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/nslab/nslab/service"
	"github.com/nslab/nslab/topology"
)

// ServiceFigures are what MeasureServices measured.
type ServiceFigures struct {
	Nodes int
	// UpWithout and UpWith are the times of up for the lab without
	// services and, after a down, with one per node.
	UpWithout, UpWith time.Duration
	// FirstRestart holds, for a few services of restart: always, the time
	// from SIGKILL to the service running again (its first restart).
	FirstRestart []time.Duration
	// SupervisorRSS is the supervisor's resident memory (VmRSS, bytes)
	// with every service running; SupervisorCPU the CPU time (user and
	// system) it had used by then: a figure that holds on a busy machine.
	SupervisorRSS int64
	SupervisorCPU time.Duration
	// Starting is the time from the first service's start to the last's,
	// from the journal; Down the time of the down of the lab with its
	// services.
	Starting, Down time.Duration
}

// MeasureServices builds a lab called name of n nodes (no interfaces:
// the cost measured is the services') without services, removes it,
// builds it again with `sleep infinity` on every node (restart: always),
// kills `restarts` of them one by one to time their first restart, reads
// the supervisor's memory, and removes the lab. logf, when not nil, gets
// the timings of the up with services. The benchmarks and the
// bench command call it; it leaves nothing behind, on failure too.
func MeasureServices(ctx context.Context, name string, n, restarts int, logf func(string, ...any)) (f ServiceFigures, err error) {
	f.Nodes = n
	var src strings.Builder
	fmt.Fprintf(&src, "name: %s\nnodes:\n", name)
	for i := range n {
		fmt.Fprintf(&src, "  n%d: {}\n", i)
	}
	parse := func() (*topology.Lab, error) { return topology.Parse(name+".yaml", []byte(src.String())) }
	defer func() {
		start := time.Now()
		if derr := Down(context.Background(), name, Options{}); derr != nil && err == nil {
			err = derr
		}
		f.Down = time.Since(start)
	}()
	t, err := parse()
	if err != nil {
		return f, err
	}
	start := time.Now()
	if err := Up(ctx, t, nil, Options{}); err != nil {
		return f, err
	}
	f.UpWithout = time.Since(start)
	if err := Down(ctx, name, Options{}); err != nil {
		return f, err
	}
	if t, err = parse(); err != nil {
		return f, err
	}
	for _, node := range t.Nodes {
		node.Services = []*topology.Service{{Node: node.Name, Name: "sleep", Command: []string{"sleep", "infinity"},
			Restart: topology.RestartAlways, StopGrace: time.Second}}
	}
	start = time.Now()
	if err := Up(ctx, t, nil, Options{Logf: logf, Timings: logf != nil}); err != nil {
		return f, err
	}
	f.UpWith = time.Since(start)
	st, err := service.Read(name)
	if err != nil {
		return f, err
	}
	f.SupervisorRSS = rss(st.Supervisor)
	f.SupervisorCPU = cpuTime(st.Supervisor)
	f.Starting = startSpan(name)
	if logf != nil {
		b, _ := os.ReadFile(service.Dir(name) + "/supervisor.log")
		logf("supervisor.log:\n%s", b)
	}
	for i := range min(restarts, len(st.Services)) {
		d, err := firstRestart(ctx, name, st.Services[i])
		if err != nil {
			return f, err
		}
		f.FirstRestart = append(f.FirstRestart, d)
	}
	return f, nil
}

// firstRestart kills a running service and returns how long it took
// until its supervisor had it running again, from the journal.
func firstRestart(ctx context.Context, lab string, s service.ServiceState) (time.Duration, error) {
	ref := s.Node + "/" + s.Name
	killed := time.Now()
	if err := syscall.Kill(s.PID, syscall.SIGKILL); err != nil {
		return 0, fmt.Errorf("killing %s (pid %d): %w", ref, s.PID, err)
	}
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
		if at, ok := startedAfter(lab, ref, killed); ok {
			return at.Sub(killed), nil
		}
	}
	return 0, fmt.Errorf("service %s was not running again 5 s after SIGKILL", ref)
}

// startSpan is the time between the first start and the last in the
// lab's journal.
func startSpan(lab string) time.Duration {
	f, err := os.Open(service.JournalFile(lab))
	if err != nil {
		return 0
	}
	defer f.Close()
	var first, last time.Time
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var e service.Event
		if json.Unmarshal(sc.Bytes(), &e) == nil && e.Kind == "service-start" {
			if first.IsZero() {
				first = e.Time
			}
			last = e.Time
		}
	}
	return last.Sub(first)
}

// startedAfter finds in the lab's journal a start of ref after t.
func startedAfter(lab, ref string, t time.Time) (time.Time, bool) {
	f, err := os.Open(service.JournalFile(lab))
	if err != nil {
		return time.Time{}, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var e service.Event
		if json.Unmarshal(sc.Bytes(), &e) == nil && e.Kind == "service-start" && e.Service == ref && e.Time.After(t) {
			return e.Time, true
		}
	}
	return time.Time{}, false
}

// rss reads VmRSS of a process, in bytes.
func rss(pid int) int64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// cpuTime reads the user and system time of a process (fields 14 and 15
// of /proc/PID/stat, in clock ticks of 10 ms).
func cpuTime(pid int) time.Duration {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	i := strings.LastIndexByte(string(b), ')')
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	s, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(u+s) * 10 * time.Millisecond
}
