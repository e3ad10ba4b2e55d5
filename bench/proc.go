package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// stopMode says how a running command is stopped when the bench is
// interrupted or the command times out.
type stopMode int

const (
	// stopGroup sends SIGTERM to the command's own process group (bash
	// and the ip it runs; gen).
	stopGroup stopMode = iota
	// stopInterrupt sends SIGINT to the command only: nslab up then
	// removes what it made before it exits.
	stopInterrupt
)

// runOpts tune one command.
type runOpts struct {
	timeout time.Duration
	stop    stopMode
	// grace is how long a stopped command may take to exit before it is
	// killed (nslab undoing a half-built lab needs a while).
	grace time.Duration
	// stdout, when set, receives the command's standard output.
	stdout *os.File
	// lines, when set, gets every output line (stdout and stderr) with
	// the time since start at which it arrived.
	lines func(at time.Duration, line string)
	// env is added to the environment.
	env []string
	// norecord keeps the command out of the list in RESULTS.md (the
	// exec loop records its commands itself).
	norecord bool
}

// result is what one command did.
type result struct {
	Wall   time.Duration
	MaxRSS int64 // bytes, from the child's rusage
	// CPU is the user and system time of the command and the children it
	// waited for.
	CPU  time.Duration
	Code int // exit status; -1 when killed by a signal or not started
	Out  string
	Err  string
	PID  int
	// Others is the share of the machine's CPU time, during the command,
	// not spent by the command itself (nor its children): other work on a
	// shared machine, and kernel threads (such as those freeing namespaces).
	Others float64
}

// tail sums up the command's error output (or its output): its first
// line, which names the error, and its last when there are more.
func (r result) tail() string {
	for _, s := range []string{r.Err, r.Out} {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		lines := strings.Split(s, "\n")
		first, last := strings.TrimSpace(lines[0]), strings.TrimSpace(lines[len(lines)-1])
		if len(lines) == 1 {
			return first
		}
		return first + " … " + last
	}
	return fmt.Sprintf("exit status %d", r.Code)
}

// run starts argv in its own process group, so that a Ctrl-C at the
// terminal reaches only the bench, which then stops the command the way
// opt.stop says. It returns an error when the command could not run,
// timed out, was stopped or exited non-zero.
func (b *bench) run(ctx context.Context, opt runOpts, argv ...string) (result, error) {
	if !opt.norecord {
		b.record(argv, opt.stdout)
	}
	if opt.timeout == 0 {
		opt.timeout = 5 * time.Minute
	}
	if opt.grace == 0 {
		opt.grace = 10 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, opt.timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Env = append(os.Environ(), opt.env...)
	cmd.WaitDelay = opt.grace
	cmd.Cancel = func() error {
		if opt.stop == stopInterrupt {
			return cmd.Process.Signal(os.Interrupt)
		}
		return syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
	}
	var out, errb bytes.Buffer
	var lw *lineWriter
	start := time.Now()
	switch {
	case opt.lines != nil:
		lw = &lineWriter{start: start, fn: opt.lines}
		cmd.Stdout = io.MultiWriter(&out, lw)
		cmd.Stderr = io.MultiWriter(&errb, lw)
	case opt.stdout != nil:
		cmd.Stdout = opt.stdout
		cmd.Stderr = &errb
	default:
		cmd.Stdout = &out
		cmd.Stderr = &errb
	}
	busy0 := cpuBusy()
	err := cmd.Run()
	r := result{Wall: time.Since(start), Code: -1, Out: out.String(), Err: errb.String()}
	busy := cpuBusy() - busy0
	if lw != nil {
		lw.flush()
	}
	if cmd.Process != nil {
		r.PID = cmd.Process.Pid
	}
	if ps := cmd.ProcessState; ps != nil {
		r.Code = ps.ExitCode()
		if ru, ok := ps.SysUsage().(*syscall.Rusage); ok {
			r.MaxRSS = ru.Maxrss * 1024
			own := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
			r.CPU = own
			if capacity := float64(r.Wall) * float64(runtime.NumCPU()); capacity > 0 {
				r.Others = max(0, float64(busy-own)/capacity)
			}
		}
	}
	prog := filepath.Base(argv[0])
	switch {
	case ctx.Err() == context.DeadlineExceeded:
		return r, fmt.Errorf("%s: timed out after %s", prog, opt.timeout)
	case ctx.Err() != nil:
		return r, fmt.Errorf("%s: stopped: %w", prog, ctx.Err())
	case err != nil:
		return r, fmt.Errorf("%s: %w: %s", prog, err, r.tail())
	}
	return r, nil
}

// lineWriter splits output into lines and stamps each with its arrival.
type lineWriter struct {
	mu    sync.Mutex
	start time.Time
	buf   []byte
	fn    func(time.Duration, string)
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	at := time.Since(w.start)
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		w.fn(at, string(w.buf[:i]))
		w.buf = w.buf[i+1:]
	}
	return len(p), nil
}

func (w *lineWriter) flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.buf) > 0 {
		w.fn(time.Since(w.start), string(w.buf))
		w.buf = nil
	}
}

// becomeSubreaper makes the bench the parent of any process its children
// leave behind (Mininet's host shells when mn dies), so that the bench
// can end them by their PIDs: processes it started, if indirectly.
func becomeSubreaper() error {
	return unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
}

// orphan is a process left behind by a command of the bench and
// re-parented to it.
type orphan struct {
	pid   int
	state string
	cmd   string
}

// orphans lists the bench's child processes: between commands the bench
// has none of its own running, so each one is a leftover.
func orphans() []orphan {
	me := os.Getpid()
	var list []orphan
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		ppid, state, ok := procStat(pid)
		if !ok || ppid != me {
			continue
		}
		cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		list = append(list, orphan{pid, state, strings.TrimSpace(strings.ReplaceAll(string(cmdline), "\x00", " "))})
	}
	return list
}

// procStat reads the parent PID and state of pid from /proc/PID/stat.
func procStat(pid int) (ppid int, state string, ok bool) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, "", false
	}
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return 0, "", false
	}
	f := strings.Fields(string(data[i+1:]))
	if len(f) < 2 {
		return 0, "", false
	}
	ppid, err = strconv.Atoi(f[1])
	return ppid, f[0], err == nil
}

// reapOrphans ends, by PID, the processes that commands of the bench
// left behind, and collects their exit status. It must run only while the
// bench runs no command of its own. It returns what it ended.
func reapOrphans() []string {
	var ended []string
	for round := 0; round < 3; round++ {
		list := orphans()
		if len(list) == 0 {
			break
		}
		for _, o := range list {
			if o.state != "Z" {
				syscall.Kill(o.pid, syscall.SIGKILL)
				ended = append(ended, fmt.Sprintf("%d (%s)", o.pid, o.cmd))
			}
			var ws syscall.WaitStatus
			syscall.Wait4(o.pid, &ws, 0, nil)
		}
	}
	return ended
}

// firstLine returns the first line of s.
func firstLine(s string) string {
	sc := bufio.NewScanner(strings.NewReader(s))
	if sc.Scan() {
		return sc.Text()
	}
	return ""
}

// errText is err's message, or "".
func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// cpuBusy is the CPU time all CPUs spent not idle since boot
// (/proc/stat), at USER_HZ = 100 resolution.
func cpuBusy() time.Duration {
	f, err := os.Open("/proc/stat")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	if !sc.Scan() {
		return 0
	}
	fields := strings.Fields(sc.Text())
	var busy int64
	for i, v := range fields[1:] {
		n, _ := strconv.ParseInt(v, 10, 64)
		if i == 3 || i == 4 || i >= 8 { // idle, iowait; guest times are in user already
			continue
		}
		busy += n
	}
	return time.Duration(busy) * 10 * time.Millisecond
}

// neighTableFulls counts how often the kernel's neighbour tables (ARP
// and NDP, one each for all namespaces together) were full: a lab that
// needs more entries than net.ipv{4,6}.neigh.default.gc_thresh3 loses
// packets (the kernel logs "neighbor table overflow").
func neighTableFulls() int64 {
	var sum int64
	for _, t := range []string{"arp_cache", "ndisc_cache"} {
		data, err := os.ReadFile("/proc/net/stat/" + t)
		if err != nil {
			continue
		}
		lines := strings.Split(strings.TrimSpace(string(data)), "\n")
		if len(lines) < 2 {
			continue
		}
		col := -1
		for i, h := range strings.Fields(lines[0]) {
			if h == "table_fulls" {
				col = i
			}
		}
		for _, l := range lines[1:] {
			f := strings.Fields(l)
			if col >= 0 && col < len(f) {
				v, _ := strconv.ParseInt(f[col], 16, 64)
				sum += v
			}
		}
	}
	return sum
}
