package service

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/nslab/nslab/internal/procstat"
)

// startTime reads a process's start time (clock ticks since boot); ok is
// false when there is no such process or it is a zombie (it exited and
// waits to be reaped: nothing to stop).
func startTime(pid int) (st uint64, ok bool) {
	state, st, err := procstat.Read(pid)
	return st, err == nil && state != "Z" && state != "X"
}

// openProc returns a pidfd of pid if it is still the process that
// started at st (pid and start time), -1 otherwise. The start time is
// read after the pidfd is open: a pid reused in between shows another.
func openProc(pid int, st uint64) int {
	if pid <= 0 {
		return -1
	}
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return -1
	}
	if now, ok := startTime(pid); !ok || now != st {
		unix.Close(fd)
		return -1
	}
	return fd
}

// exited waits up to d for the process of pidfd to end; it reports
// whether it did.
func exited(pidfd int, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for {
		ms := max(0, int(time.Until(deadline)/time.Millisecond))
		fds := []unix.PollFd{{Fd: int32(pidfd), Events: unix.POLLIN}}
		n, err := unix.Poll(fds, ms)
		if err == unix.EINTR {
			continue
		}
		return err == nil && n > 0
	}
}

// signalGroup sends sig to the process group of a service (its pid: each
// service leads a session of its own) and to the process itself through
// its pidfd, in case it left its group.
func signalGroup(pid, pidfd int, sig unix.Signal) {
	unix.Kill(-pid, sig)
	if pidfd >= 0 {
		unix.PidfdSendSignal(pidfd, sig, nil, 0)
	}
}

// reap collects the exit of a child through its pidfd.
func reap(pidfd int) (string, bool) {
	var info unix.Siginfo
	if err := unix.Waitid(unix.P_PIDFD, pidfd, &info, unix.WEXITED|unix.WNOHANG, nil); err != nil {
		return "", false
	}
	return siginfoExit(&info)
}

// siginfoExit reads the exit of a waitid: the pid, code and status of
// SIGCHLD fields of siginfo_t (si_pid at 16 bytes, si_status at 24 on
// 64-bit Linux) and words it as os/exec does.
func siginfoExit(info *unix.Siginfo) (string, bool) {
	raw := (*[128]byte)(unsafe.Pointer(info))
	pid := *(*int32)(unsafe.Pointer(&raw[16]))
	status := *(*int32)(unsafe.Pointer(&raw[24]))
	if pid == 0 {
		return "", false // WNOHANG: not exited yet
	}
	switch info.Code {
	case 1: // CLD_EXITED
		return "exit status " + strconv.Itoa(int(status)), true
	case 2, 3: // CLD_KILLED, CLD_DUMPED
		return "signal: " + unix.Signal(status).String(), true
	}
	return fmt.Sprintf("exit code %d status %d", info.Code, status), true
}

// orphan is a process of a lab's service found by its environment.
type orphan struct {
	pid   int
	start uint64
	ref   string
}

// orphans lists the session leaders whose environment names the lab
// (NSLAB_LAB) and a service (NSLAB_NODE, NSLAB_SERVICE), except known.
func orphans(lab string, known map[int]bool) []orphan {
	entries, _ := os.ReadDir("/proc")
	var out []orphan
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || known[pid] || pid == os.Getpid() {
			continue
		}
		if sid, err := unix.Getsid(pid); err != nil || sid != pid {
			continue
		}
		env, err := os.ReadFile("/proc/" + e.Name() + "/environ")
		if err != nil || !bytes.Contains(env, []byte("NSLAB_LAB="+lab+"\x00")) {
			continue
		}
		var node, svc, l string
		for _, kv := range bytes.Split(env, []byte{0}) {
			k, v, _ := bytes.Cut(kv, []byte("="))
			switch string(k) {
			case "NSLAB_LAB":
				l = string(v)
			case "NSLAB_NODE":
				node = string(v)
			case "NSLAB_SERVICE":
				svc = string(v)
			}
		}
		st, ok := startTime(pid)
		if l != lab || node == "" || svc == "" || !ok {
			continue
		}
		out = append(out, orphan{pid: pid, start: st, ref: ref(node, svc)})
	}
	return out
}
