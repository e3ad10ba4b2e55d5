package topology

import "time"

// Restart policies of a service (restart: key).
const (
	RestartNo        = "no"
	RestartOnFailure = "on-failure"
	RestartAlways    = "always"
)

// Service is a program that a node runs, started and watched by the lab's
// supervisor (a node's services: key). The file says what runs; nothing of
// the machine is read to build a Service (whether the command exists is
// checked by up, not by validation).
type Service struct {
	// Node is the node that runs the service; Name its name there.
	Node string
	Name string
	// Command is the program and its arguments. When the file gave a
	// string, Shell is set and Command is {"/bin/sh", "-c", STRING}.
	Command []string
	Shell   bool
	// Env holds KEY=VALUE entries added to the service's environment,
	// sorted by key.
	Env []string
	// Dir is the working directory; "" means the node's own directory.
	Dir string
	// User runs the service as this user (a name or a numeric uid); ""
	// means the user nslab runs as.
	User string
	// Restart is RestartNo, RestartOnFailure or RestartAlways.
	Restart string
	// Ready says when the service is ready; nil means once started.
	Ready *Ready
	// After are the services that must be ready before this one starts.
	After []ServiceRef
	// StopSignal ends the service ("SIGTERM" unless the file says);
	// StopGrace is how long it has before SIGKILL.
	StopSignal string
	StopGrace  time.Duration
	Pos        Pos
	// CommandPos is where the command was written; DirPos where dir was,
	// UserPos where user was.
	CommandPos Pos
	DirPos     Pos
	UserPos    Pos
}

// Ref returns the service as "node/name".
func (s *Service) Ref() string { return s.Node + "/" + s.Name }

// ServiceRef names a service: Node/Service, as written in after:.
type ServiceRef struct {
	Node    string
	Service string
	Pos     Pos
}

func (r ServiceRef) String() string { return r.Node + "/" + r.Service }

// Ready is a readiness check, run inside the node: exactly one of TCP,
// HTTP and Command is set.
type Ready struct {
	// TCP is an address to connect to ("PORT" means 127.0.0.1:PORT).
	TCP string
	// HTTP is a URL that must answer with a 2xx status.
	HTTP string
	// Command must exit 0; Shell as for Service.Command.
	Command []string
	Shell   bool
	// Timeout is how long the service has to become ready; Interval is
	// the time between tries.
	Timeout  time.Duration
	Interval time.Duration
	Pos      Pos
	// CommandPos is where Command was written.
	CommandPos Pos
}
