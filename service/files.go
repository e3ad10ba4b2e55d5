package service

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// writeJSON writes v to path atomically (a new file renamed over it),
// readable by root alone.
func writeJSON(path string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	tmp := path + ".new"
	if err := os.WriteFile(tmp, append(data, '\n'), 0o600); err != nil {
		return fmt.Errorf("saving %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("saving %s: %w", path, err)
	}
	return nil
}

func readJSON(path string, v any) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("reading %s: %w", path, err)
	}
	return nil
}

// Read returns the lab's service state; a lab without services has none
// (a zero State and no error). Supervisor is 0 unless the supervisor
// that wrote the state still runs.
func Read(lab string) (State, error) {
	var st State
	err := readJSON(stateFile(lab), &st)
	if errors.Is(err, os.ErrNotExist) {
		return State{Lab: lab}, nil
	}
	if err != nil {
		return State{Lab: lab}, err
	}
	if pid, _ := running(lab); pid == 0 {
		st.Supervisor = 0
		for i := range st.Services {
			gone(&st.Services[i])
		}
	}
	return st, nil
}

// GoneExit is the exit of a service whose process ended while no
// supervisor ran: nothing saw how it ended.
const GoneExit = "ended while no supervisor ran (status unknown)"

// gone marks a service whose process ended while no supervisor watched
// it (killed -9): the state says it runs, as the supervisor last wrote.
func gone(s *ServiceState) {
	if s.PID <= 0 || (s.State != Starting && s.State != Running && s.State != Stopping) {
		return
	}
	if now, ok := startTime(s.PID); ok && (s.StartTime == 0 || now == s.StartTime) {
		return
	}
	s.State, s.PID, s.StartTime, s.Ready, s.Exit = Exited, 0, 0, false, GoneExit
}

// Unwatched reports whether the state has services that a supervisor
// should watch, start or restart but none runs (it was killed): nslab up
// starts one, which adopts them.
func (st State) Unwatched() bool {
	if st.Supervisor != 0 {
		return false
	}
	for _, s := range st.Services {
		switch s.State {
		case Waiting, Starting, Running, Backoff, Stopping:
			return true
		case Exited:
			if s.Exit == GoneExit {
				return true
			}
		}
	}
	return false
}

func readSpec(lab string) (Spec, error) {
	var sp Spec
	err := readJSON(specFile(lab), &sp)
	if errors.Is(err, os.ErrNotExist) {
		return Spec{Lab: lab}, nil
	}
	return sp, err
}

// running returns the pid of the lab's supervisor and its start time, or
// 0 when none runs: the pid file names a process with the same start
// time (not a later process that took the pid).
func running(lab string) (pid int, st uint64) {
	data, err := os.ReadFile(pidFile(lab))
	if err != nil {
		return 0, 0
	}
	if _, err := fmt.Sscan(string(data), &pid, &st); err != nil {
		return 0, 0
	}
	if now, ok := startTime(pid); !ok || now != st {
		return 0, 0
	}
	return pid, st
}

// tail returns the last n lines of a file (of its last 64 KiB), or of
// its rotated predecessor when it is empty.
func tail(path string, n int) []string {
	lines := tailOf(path, n)
	if len(lines) == 0 {
		lines = tailOf(path+".1", n)
	}
	return lines
}

func tailOf(path string, n int) []string {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.Size() > 64<<10 {
		f.Seek(fi.Size()-64<<10, 0)
	}
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 64<<10)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if len(lines) > n {
			lines = lines[1:]
		}
	}
	return lines
}

// Event is a line of the lab's journal (JournalFile): what the
// supervisor did or saw.
type Event struct {
	Time    time.Time `json:"time"`
	Lab     string    `json:"lab"`
	Kind    string    `json:"kind"` // service-start, service-exit, service-ready, service-failed, service-stop
	Service string    `json:"service,omitempty"`
	PID     int       `json:"pid,omitempty"`
	Detail  string    `json:"detail,omitempty"`
}

// journal appends events to the lab's journal, one write a line: a
// killed writer loses at most its last line.
type journal struct{ f *os.File }

func openJournal(lab string) *journal {
	f, err := os.OpenFile(JournalFile(lab), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return &journal{}
	}
	return &journal{f: f}
}

func (j *journal) add(e Event) {
	if j.f == nil {
		return
	}
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	e.Time = e.Time.UTC()
	b, _ := json.Marshal(e)
	j.f.Write(append(b, '\n'))
}

// mkdirs makes the services directory and the log directories of the
// nodes of spec.
func mkdirs(spec Spec) error {
	dirs := []string{Dir(spec.Lab)}
	for _, d := range spec.Services {
		dirs = append(dirs, filepath.Dir(LogPath(spec.Lab, d.Node, d.Name)))
	}
	for _, d := range dirs {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return fmt.Errorf("lab %s: making %s: %w", spec.Lab, d, err)
		}
	}
	return nil
}

// ref names a service as NODE/SERVICE.
func ref(node, name string) string { return node + "/" + name }

func (d *Def) ref() string { return ref(d.Node, d.Name) }

func splitRef(r string) (node, name string) {
	node, name, _ = strings.Cut(r, "/")
	return node, name
}

// Unchanged reports whether applying spec would change nothing: the
// lab's supervisor runs exactly spec's services, by their digests, and
// none of them has failed or ended by a failure (up tries it again). A lab without
// services and a spec without any are unchanged too.
func Unchanged(spec Spec) bool {
	st, err := Read(spec.Lab)
	if err != nil || len(st.Services) != len(spec.Services) {
		return false
	}
	if len(spec.Services) > 0 && st.Supervisor == 0 {
		return false // the next up adopts what a killed supervisor left
	}
	have := make(map[string]ServiceState, len(st.Services))
	for _, s := range st.Services {
		have[s.Node+"/"+s.Name] = s
	}
	for _, d := range spec.Services {
		s, ok := have[d.Node+"/"+d.Name]
		if !ok || s.Digest != d.Digest || s.State == Failed || s.EndedInFailure() {
			return false
		}
	}
	return true
}
