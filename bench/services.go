package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/nslab/nslab/service"
)

// The targets of issue 10, item 6.
const (
	targetServicesNodes = 1000
	targetServicesExtra = 2 * time.Second        // up of N nodes with a service each, over the same lab without
	targetRestart       = 100 * time.Millisecond // a service that exits runs again (restart: always, first restart)
	restartRuns         = 5
)

// servicesRun is what the services part measured.
type servicesRun struct {
	Nodes     int
	Gen       string
	UpPlain   []time.Duration // up of the star without services
	UpSvc     []time.Duration // the same star, one sleep infinity per node
	DownPlain []time.Duration
	DownSvc   []time.Duration
	// The CPU time of up itself, without / with services, and the share
	// of the machine's CPUs that others used during the ups with
	// services.
	UpCPUPlain, UpCPUSvc []time.Duration
	Others               []float64
	// The supervisor's resident memory with Nodes services running, and
	// its peak (VmRSS, VmHWM of /proc/PID/status).
	SupRSS, SupHWM int64
	// SupCPU is the CPU time the supervisor used (user + system) up to
	// the moment up returned: what starting the services cost it,
	// whatever else ran on the machine.
	SupCPU time.Duration
	// Restart is a restart: always service's first restart, from its
	// first run's start to its second's, as the service printed them;
	// Journal the same from the supervisor's journal, from the exit it
	// saw to the start it made.
	Restart []time.Duration
	Journal []time.Duration
	// Spawn is the peer: starting Nodes `sleep infinity` processes on the
	// host and nothing else (exec.Command from this program, 4 at once),
	// the floor of any supervisor of Nodes programs on this machine.
	Spawn []time.Duration
	Errs  []string
}

func (s *servicesRun) fail(format string, a ...any) {
	s.Errs = append(s.Errs, fmt.Sprintf(format, a...))
}

// withServices gives every node of a generated star (a line "  hN:") a
// service: sleep infinity.
func withServices(star string) (string, int) {
	re := regexp.MustCompile(`(?m)^  (h[0-9]+):\n`)
	n := 0
	out := re.ReplaceAllStringFunc(star, func(m string) string {
		n++
		return m + "    services:\n      sleep: {command: [sleep, infinity]}\n"
	})
	return out, n
}

// servicesTest measures the services of issue 10: the up of a star of
// N nodes with one small service each against the same star without,
// the supervisor's memory with those services, and how soon a service
// that exits runs again.
func (b *bench) servicesTest(ctx context.Context) {
	n := b.cfg.services
	run := &servicesRun{Nodes: n}
	b.res.services = run
	const name = "bench-svc"
	plain, how, err := b.generate(ctx, name, [][]string{{"star", "--nodes", strconv.Itoa(n), "--name", name}},
		func() string { return fallbackStar(name, n, false) })
	if err != nil {
		run.fail("generating the star: %v", err)
		return
	}
	run.Gen = how
	data, err := os.ReadFile(plain)
	if err != nil {
		run.fail("%v", err)
		return
	}
	text, got := withServices(string(data))
	if got != n {
		run.fail("the star's file has %d nodes named hN, want %d", got, n)
		return
	}
	withSvc := filepath.Join(b.tmp, name+"-services.yaml")
	if err := os.WriteFile(withSvc, []byte(text), 0o644); err != nil {
		run.fail("%v", err)
		return
	}
	for rep := 0; rep < b.cfg.repeat && ctx.Err() == nil; rep++ {
		for _, svc := range []bool{false, true} {
			path := plain
			if svc {
				path = withSvc
			}
			up, down, cpu, others, ok := b.svcLifecycle(ctx, run, name, path, func() {
				if svc && rep == 0 {
					run.SupRSS, run.SupHWM, run.SupCPU = supervisorUsage(name)
				}
			})
			if !ok {
				return
			}
			if svc {
				run.UpSvc, run.DownSvc = append(run.UpSvc, up), append(run.DownSvc, down)
				run.UpCPUSvc, run.Others = append(run.UpCPUSvc, cpu), append(run.Others, others)
			} else {
				run.UpPlain, run.DownPlain = append(run.UpPlain, up), append(run.DownPlain, down)
				run.UpCPUPlain = append(run.UpCPUPlain, cpu)
			}
			progress("services: star of %d, services %v: up %s, down %s", n, svc, secs(up), secs(down))
		}
	}
	for i := 0; i < restartRuns && ctx.Err() == nil; i++ {
		b.restartOnce(ctx, run)
	}
	for rep := 0; rep < b.cfg.repeat && ctx.Err() == nil; rep++ {
		d, err := spawnFloor(n)
		if err != nil {
			run.fail("the spawn floor: %v", err)
			return
		}
		run.Spawn = append(run.Spawn, d)
		progress("services: %d processes started on the host in %s", n, secs(d))
	}
}

// spawnFloor starts n `sleep infinity` processes on the host, 4 at once,
// each in a session of its own as services are, and says how long that
// took; then it ends them (by their pids) and reaps them.
func spawnFloor(n int) (time.Duration, error) {
	cmds := make([]*exec.Cmd, n)
	next := make(chan int)
	errs := make(chan error, n)
	var wg sync.WaitGroup
	start := time.Now()
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				c := exec.Command("sleep", "infinity")
				c.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
				if err := c.Start(); err != nil {
					errs <- err
					continue
				}
				cmds[i] = c
			}
		}()
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	d := time.Since(start)
	for _, c := range cmds {
		if c != nil {
			c.Process.Kill()
			c.Wait()
		}
	}
	close(errs)
	return d, <-errs
}

// svcLifecycle times up and down of one lab, running whileUp between,
// and says how much CPU up used and what share of the machine's CPUs
// others used meanwhile; ok is false when a step failed (noted in run).
func (b *bench) svcLifecycle(ctx context.Context, run *servicesRun, name, path string, whileUp func()) (up, down, cpu time.Duration, others float64, ok bool) {
	if left := leftovers(name, false); len(left) > 0 {
		run.fail("lab %s exists already (%s): not touched", name, left[0])
		return 0, 0, 0, 0, false
	}
	step := b.clean.add("nslab down "+name, func() error {
		_, err := b.run(context.Background(), runOpts{timeout: 5 * time.Minute, grace: time.Minute, norecord: true}, b.nslab, "down", "-q", name)
		return err
	})
	b.settle(ctx)
	r, err := b.run(ctx, runOpts{timeout: 5 * time.Minute, stop: stopInterrupt}, b.nslab, "up", "-q", path)
	if err != nil {
		run.fail("nslab up %s: %s", filepath.Base(path), firstLine(errText(err)))
		return 0, 0, 0, 0, false
	}
	if whileUp != nil {
		whileUp()
	}
	d, err := b.run(context.Background(), runOpts{timeout: 5 * time.Minute}, b.nslab, "down", "-q", name)
	if err != nil {
		run.fail("nslab down %s: %s", name, firstLine(errText(err)))
		return 0, 0, 0, 0, false
	}
	b.clean.disarm(step)
	if left, _ := settledLeftovers(name, false, 30*time.Second); len(left) > 0 {
		run.fail("down left %s", strings.Join(firstN(left, 3), ", "))
		return 0, 0, 0, 0, false
	}
	return r.Wall, d.Wall, r.CPU, r.Others, true
}

// supervisorUsage reads the resident memory of the lab's supervisor
// (named by DIR/supervisor.pid, "PID STARTTIME"), now and at its peak,
// and the CPU time it used so far.
func supervisorUsage(lab string) (rss, hwm int64, cpu time.Duration) {
	data, err := os.ReadFile(filepath.Join(service.Dir(lab), "supervisor.pid"))
	if err != nil {
		return 0, 0, 0
	}
	f := strings.Fields(string(data))
	if len(f) == 0 {
		return 0, 0, 0
	}
	if stat, err := os.ReadFile("/proc/" + f[0] + "/stat"); err == nil {
		// Fields after the command's closing parenthesis: utime and
		// stime are the 12th and 13th, in clock ticks (USER_HZ, 100).
		s := string(stat)
		fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(fields) > 12 {
			u, _ := strconv.ParseInt(fields[11], 10, 64)
			k, _ := strconv.ParseInt(fields[12], 10, 64)
			cpu = time.Duration(u+k) * 10 * time.Millisecond
		}
	}
	st, err := os.Open("/proc/" + f[0] + "/status")
	if err != nil {
		return 0, 0, cpu
	}
	defer st.Close()
	sc := bufio.NewScanner(st)
	for sc.Scan() {
		k, v, _ := strings.Cut(sc.Text(), ":")
		kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		switch k {
		case "VmRSS":
			rss = kb << 10
		case "VmHWM":
			hwm = kb << 10
		}
	}
	return rss, hwm, cpu
}

// restartLab is one node whose service prints when it starts and exits
// at once, restarted always.
const restartLab = `# a service that exits at once, restarted always
name: bench-svc-restart
nodes:
  n1:
    services:
      crash:
        command: [bash, -c, 'echo start $EPOCHREALTIME; exit 1']
        restart: always
`

// restartOnce builds restartLab, waits for the service's second start
// and takes the lab down; it adds the first restart's latency to run.
func (b *bench) restartOnce(ctx context.Context, run *servicesRun) {
	const name = "bench-svc-restart"
	path := filepath.Join(b.tmp, name+".yaml")
	if err := os.WriteFile(path, []byte(restartLab), 0o644); err != nil {
		run.fail("%v", err)
		return
	}
	b.svcLifecycle(ctx, run, name, path, func() {
		log := service.LogPath(name, "n1", "crash")
		deadline := time.Now().Add(5 * time.Second)
		var starts []float64
		for time.Now().Before(deadline) {
			starts = startTimes(log)
			if len(starts) >= 2 {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		if len(starts) < 2 {
			run.fail("restart: the service started %d times in 5 s, want 2", len(starts))
			return
		}
		d := time.Duration((starts[1] - starts[0]) * float64(time.Second))
		run.Restart = append(run.Restart, d)
		if j, ok := journalRestart(name); ok {
			run.Journal = append(run.Journal, j)
		}
		progress("services: first restart %s after the first start", ms(d))
	})
}

// startTimes reads the "start EPOCHREALTIME" lines of a log.
func startTimes(log string) []float64 {
	data, _ := os.ReadFile(log)
	var out []float64
	for _, l := range strings.Split(string(data), "\n") {
		if t, ok := strings.CutPrefix(l, "start "); ok {
			if f, err := strconv.ParseFloat(strings.TrimSpace(t), 64); err == nil {
				out = append(out, f)
			}
		}
	}
	return out
}

// journalRestart is the time from the first exit the supervisor wrote in
// the lab's journal to the start that followed it.
func journalRestart(lab string) (time.Duration, bool) {
	data, err := os.ReadFile(service.JournalFile(lab))
	if err != nil {
		return 0, false
	}
	var exit time.Time
	for _, l := range strings.Split(string(data), "\n") {
		var e service.Event
		if json.Unmarshal([]byte(l), &e) != nil {
			continue
		}
		switch {
		case e.Kind == "service-exit" && exit.IsZero():
			exit = e.Time
		case e.Kind == "service-start" && !exit.IsZero():
			return e.Time.Sub(exit), true
		}
	}
	return 0, false
}

// servicesTable reports the services part, its targets first.
func (b *bench) servicesTable() *table {
	s := b.res.services
	if s == nil {
		return nil
	}
	t := &table{title: "Services (issue 10)", head: []string{"measure", "goal", "measured", "result"}}
	verdict := func(ok bool) string {
		if ok {
			return "met"
		}
		return "MISSED"
	}
	if len(s.UpPlain) > 0 && len(s.UpSvc) > 0 {
		extra := median(s.UpSvc) - median(s.UpPlain)
		t.add(fmt.Sprintf("star of %d: up with one sleep infinity per node, over up without", s.Nodes),
			fmt.Sprintf("≤ %s more", secs(targetServicesExtra)),
			fmt.Sprintf("+%s (%s vs %s, medians)", secs(max(extra, 0)), secs(median(s.UpSvc)), secs(median(s.UpPlain))),
			verdict(extra <= targetServicesExtra))
		t.add(fmt.Sprintf("star of %d: down with services, over down without", s.Nodes), "–",
			fmt.Sprintf("+%s (%s vs %s, medians)", secs(max(median(s.DownSvc)-median(s.DownPlain), 0)), secs(median(s.DownSvc)), secs(median(s.DownPlain))), "")
	}
	if s.SupRSS > 0 {
		t.add(fmt.Sprintf("supervisor's RSS with %d services", s.Nodes), "measured", fmt.Sprintf("%s (peak %s)", mib(s.SupRSS), mib(s.SupHWM)), "")
	}
	if s.SupCPU > 0 {
		t.add(fmt.Sprintf("supervisor's CPU time to start %d services (user + system)", s.Nodes), "measured",
			fmt.Sprintf("%s (%s a service)", secs(s.SupCPU), perNode(s.SupCPU, s.Nodes)), "")
	}
	if len(s.UpCPUPlain) > 0 && len(s.UpCPUSvc) > 0 {
		t.add("CPU time of up itself, with services over without", "measured",
			fmt.Sprintf("+%s (%s vs %s, medians)", secs(max(median(s.UpCPUSvc)-median(s.UpCPUPlain), 0)), secs(median(s.UpCPUSvc)), secs(median(s.UpCPUPlain))), "")
	}
	if len(s.Others) > 0 {
		t.add("share of the CPUs used by processes other than up during the ups with services (the supervisor and the services included)", "–", fmt.Sprintf("%.0f%% (median)", 100*medianF(s.Others)), "")
	}
	if len(s.Spawn) > 0 {
		floor := median(s.Spawn)
		t.add(fmt.Sprintf("the floor (peer): %d `sleep infinity` started on the host by a Go program, 4 at once, nothing else", s.Nodes), "–",
			fmt.Sprintf("%s (median of %d)", secs(floor), len(s.Spawn)), "")
		if len(s.UpPlain) > 0 && len(s.UpSvc) > 0 {
			extra := median(s.UpSvc) - median(s.UpPlain)
			t.add("up's extra time with services over that floor", "–", fmt.Sprintf("%.1f×", float64(extra)/float64(floor)), "")
		}
	}
	if len(s.Restart) > 0 {
		worst := s.Restart[0]
		for _, d := range s.Restart {
			worst = max(worst, d)
		}
		t.add("restart: always, a service that exits: its first restart, start to start", fmt.Sprintf("< %s", ms(targetRestart)),
			fmt.Sprintf("%s median, %s worst of %d", ms(median(s.Restart)), ms(worst), len(s.Restart)), verdict(worst < targetRestart))
	}
	if len(s.Journal) > 0 {
		t.add("the same in the supervisor's journal, exit seen to start", "–", fmt.Sprintf("%s median of %d", ms(median(s.Journal)), len(s.Journal)), "")
	}
	for _, e := range s.Errs {
		t.add("FAILED", "", e, "")
	}
	var runs []string
	for i := range s.UpPlain {
		r := fmt.Sprintf("up %s / %s, down %s / %s", secs(s.UpPlain[i]), secsAt(s.UpSvc, i), secs(s.DownPlain[i]), secsAt(s.DownSvc, i))
		runs = append(runs, r)
	}
	t.notes = append(t.notes,
		fmt.Sprintf("The star: %s, dual-stack, sealed off from the host; the same file with `services: {sleep: {command: [sleep, infinity]}}` on every node. Builds without / with services, one after the other: %s. up returns when every service runs (no ready: check: once started).", s.Gen, strings.Join(runs, "; ")),
		fmt.Sprintf("Restart: one node whose service is `bash -c 'echo start $EPOCHREALTIME; exit 1'` with restart: always, built %d times; start to start includes the first run's echo and exit and the second bash's start, on top of the supervisor's restart.", restartRuns))
	return t
}

func secsAt(d []time.Duration, i int) string {
	if i >= len(d) {
		return "–"
	}
	return secs(d[i])
}

// renderServicesOnly reports a run of the services part alone (-only
// services): its table, with the machine, the commit and the commands
// run in its notes, to be spliced into the full report.
func (b *bench) renderServicesOnly() rendered {
	t := b.servicesTable()
	if t == nil {
		t = &table{title: servicesTitle, head: []string{"measure"}}
	}
	m := b.machine
	m.LoadEnd, m.OthersEnd = loadAvg(), otherNetns()
	t.notes = append(t.notes,
		fmt.Sprintf("Measured on %s with `%s` (this section alone; the rest of the file is from the full run): %s, nslab `%s`; load average %s → %s; other network namespaces on the machine %d → %d.",
			m.Date, strings.Join(append([]string{`sudo env "PATH=$PATH" go run ./bench`}, b.cfg.args...), " "), m.short(), m.Commit, m.LoadStart, m.LoadEnd, m.OthersStart, m.OthersEnd),
		"Commands run: `"+strings.Join(b.commands, "`; `")+"`.")
	for _, n := range b.res.notes {
		t.notes = append(t.notes, "Note: "+n)
	}
	return rendered{text: t.text(), markdown: t.markdown()}
}

const servicesTitle = "Services (issue 10)"

// spliceServices puts the services section into the report at path: in
// place of the one there, else before the reachability table, the notes
// or the commands, else at the end.
func spliceServices(path, section string) (string, error) {
	return spliceSections(path, []string{servicesTitle}, section, "-only services")
}

// spliceOnly puts the section of the part run alone (-only) into the
// report at path.
func spliceOnly(path, part, section string) (string, error) {
	if part == "multihost" {
		return spliceSections(path, multihostTitles, section, "-only multihost")
	}
	return spliceServices(path, section)
}

// spliceSections puts section, made of the sections titled titles, into
// the report at path: in place of the ones there (from the first of
// them to the next section of another title), else before the
// reachability table, the notes or the commands, else at the end.
func spliceSections(path string, titles []string, section, what string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("%s replaces its section of %s: %w", what, path, err)
	}
	doc := string(data)
	ours := func(at int) bool {
		for _, t := range titles {
			if strings.HasPrefix(doc[at:], "\n## "+t+"\n") {
				return true
			}
		}
		return false
	}
	for i := strings.Index(doc, "\n## "); i >= 0; {
		if !ours(i) {
			j := strings.Index(doc[i+1:], "\n## ")
			if j < 0 {
				break
			}
			i += 1 + j
			continue
		}
		end := i
		for end < len(doc) && ours(end) {
			j := strings.Index(doc[end+1:], "\n## ")
			if j < 0 {
				end = len(doc)
				break
			}
			end += 1 + j
		}
		return doc[:i] + section + doc[end:], nil
	}
	for _, next := range []string{"\n## Reachability checked", "\n## Notes", "\n## Commands run"} {
		if i := strings.Index(doc, next); i >= 0 {
			return doc[:i] + section + doc[i:], nil
		}
	}
	return doc + section, nil
}
