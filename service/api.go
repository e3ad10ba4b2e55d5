package service

import (
	"context"
	"errors"
	"time"
)

// Spec is what a lab's supervisor must run: every service of the lab.
type Spec struct {
	Lab string `json:"lab"`
	// Generation grows with every up; the state says which generation the
	// supervisor has taken in.
	Generation int64 `json:"generation"`
	Services   []Def `json:"services"`
}

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
}

// NotReadyError is the error of WaitReady when a service does not become
// ready in time or cannot start.
type NotReadyError struct {
	Service string // NODE/SERVICE
	Reason  string
	// LogTail holds the last lines of the service's log.
	LogTail []string
}

var errNotBuilt = errors.New("services are not built yet")

// Apply hands spec to the lab's supervisor, starting one when none runs
// (the running binary, re-executed; see Main), and returns once the
// supervisor has taken it in.
func Apply(ctx context.Context, spec Spec) error { return errNotBuilt }

// WaitReady waits until every service of generation gen is ready, or one
// fails (a *NotReadyError).
func WaitReady(ctx context.Context, lab string, gen int64) error { return errNotBuilt }

// Stop ends every service of the lab in the reverse order of after:
// (stop signal, grace, SIGKILL) and then the supervisor; it works without
// a supervisor too (from state.json), so nothing is left either way.
func Stop(ctx context.Context, lab string) error { return errNotBuilt }

// Read returns the lab's service state; a lab without services has none.
func Read(lab string) (State, error) { return State{}, errNotBuilt }

// LogPath is the log file of a service.
func LogPath(lab, node, svc string) string { return "" }
