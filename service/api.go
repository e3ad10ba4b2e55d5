package service

import (
	"fmt"
	"strings"
	"time"
)

// Spec is what a lab's supervisor must run: every service of the lab.
type Spec struct {
	Lab string `json:"lab"`
	// Generation grows with every up; the state says which generation the
	// supervisor has taken in.
	Generation int64 `json:"generation"`
	Services   []Def `json:"services"`
	// Holder is the lab's hostname holder (lab.UTSHolder): services run
	// in their node's UTS namespace.
	Holder string `json:"holder,omitempty"`
	// EtcFiles are bound over their namesakes in /etc for the services
	// (the lab's hosts and resolv.conf), as nslab exec does.
	EtcFiles []string `json:"etc_files,omitempty"`
	// Backoff tunes restarts; nil means DefaultBackoff.
	Backoff *BackoffPolicy `json:"backoff,omitempty"`
	// LogCap is the size at which a service's log is rotated (one old
	// file kept, LOG.1); 0 means DefaultLogCap.
	LogCap int64 `json:"log_cap,omitempty"`
}

// BackoffPolicy is how a service that exits is restarted: the first restart
// at once, the next after First, each one after twice as long as the one
// before up to Max; a service that ran Reset or longer before it exited
// starts over with an immediate restart.
type BackoffPolicy struct {
	First time.Duration `json:"first"`
	Max   time.Duration `json:"max"`
	Reset time.Duration `json:"reset"`
}

// DefaultBackoff: restarts at once, then after 100 ms, 200 ms ... 5 s; a
// run of 10 s starts over.
var DefaultBackoff = BackoffPolicy{First: 100 * time.Millisecond, Max: 5 * time.Second, Reset: 10 * time.Second}

// DefaultLogCap is the size at which a log is rotated.
const DefaultLogCap = 10 << 20

// Def is one service as the supervisor runs it: topology.Service made
// concrete (paths resolved, digest computed).
type Def struct {
	Node    string   `json:"node"`
	Name    string   `json:"name"`
	Netns   string   `json:"netns"`
	Command []string `json:"command"`
	Env     []string `json:"env,omitempty"`
	// Dir is the working directory (the node's own directory unless the
	// file says).
	Dir     string `json:"dir"`
	User    string `json:"user,omitempty"`
	Restart string `json:"restart"`
	Ready   *Ready `json:"ready,omitempty"`
	// After are the services ("NODE/SERVICE") that must be ready first.
	After      []string      `json:"after,omitempty"`
	StopSignal string        `json:"stop_signal"`
	StopGrace  time.Duration `json:"stop_grace"`
	// Digest identifies the definition (and the node's namespace): a
	// service whose digest changed is restarted, the others keep running.
	Digest string `json:"digest"`
}

// Ready is a readiness check run inside the node (one of TCP, HTTP,
// Command).
type Ready struct {
	TCP      string        `json:"tcp,omitempty"`
	HTTP     string        `json:"http,omitempty"`
	Command  []string      `json:"command,omitempty"`
	Timeout  time.Duration `json:"timeout"`
	Interval time.Duration `json:"interval"`
}

// States of a service.
const (
	Waiting  = "waiting"  // for the services of after: to be ready
	Starting = "starting" // started, not ready yet
	Running  = "running"  // started and ready
	Backoff  = "backoff"  // exited, to be restarted
	Exited   = "exited"   // exited and not to be restarted
	Failed   = "failed"   // not ready in time, or cannot start
	Stopping = "stopping"
	Stopped  = "stopped"
)

// State is what the supervisor sees, as it last wrote it.
type State struct {
	Lab        string `json:"lab"`
	Generation int64  `json:"generation"`
	// Supervisor is the supervisor's pid, 0 when none runs.
	Supervisor int            `json:"supervisor"`
	Services   []ServiceState `json:"services"`
}

// ServiceState is one service as the supervisor sees it.
type ServiceState struct {
	Node  string `json:"node"`
	Name  string `json:"name"`
	State string `json:"state"`
	PID   int    `json:"pid,omitempty"`
	// StartTime is the process's start time in clock ticks since boot
	// (/proc/PID/stat field 22): with PID, it names the process even after
	// its pid is reused.
	StartTime uint64    `json:"start_time,omitempty"`
	Ready     bool      `json:"ready"`
	Restarts  int       `json:"restarts"`
	Since     time.Time `json:"since"`
	// Exit is the last exit ("exit status 1", "signal: killed"), if any.
	Exit   string `json:"exit,omitempty"`
	Digest string `json:"digest"`
	// Reason says why a service failed.
	Reason string `json:"reason,omitempty"`
	// WasReady says the service has been ready since it was last
	// (re)defined: a one-shot service that became ready and exited 0
	// counts as done.
	WasReady bool `json:"was_ready,omitempty"`
}

// EndedInFailure reports whether a service that is not to be restarted
// ended by a failure: a signal (killed by hand, say), a non-zero status,
// or unseen while no supervisor ran. up starts it again, as it does a
// failed one: the file says it runs. A one-shot that exited 0 is done.
func (s ServiceState) EndedInFailure() bool {
	return s.State == Exited && s.Exit != "exit status 0"
}

// NotReadyError is the error of WaitReady when a service does not become
// ready in time or cannot start.
type NotReadyError struct {
	Service string // NODE/SERVICE
	Reason  string
	// LogTail holds the last lines of the service's log.
	LogTail []string
}

func (e *NotReadyError) Error() string {
	msg := fmt.Sprintf("service %s: %s", e.Service, e.Reason)
	if len(e.LogTail) == 0 {
		return msg + " (its log is empty)"
	}
	return msg + "; the last lines of its log:\n  " + strings.Join(e.LogTail, "\n  ")
}
