package service

import (
	"path/filepath"
)

// StateDir returns nslab's state directory (lab.StateDir, which package
// lab sets it to follow; the supervisor is given it when it starts).
var StateDir = func() string { return "/run/nslab" }

// Dir is the lab's services directory, DIR in the package documentation.
func Dir(lab string) string { return filepath.Join(StateDir(), lab, "services") }

// NodesDir holds the nodes' own directories, NodesDir/LAB/NODE: beside
// the state directory (/run/nslab-nodes), not in it, since that is
// root's alone (0700) and a service that runs as another user must reach
// its node's directory. NodesDir and NodesDir/LAB are 0711 (passable,
// not listable); a node's directory is 0700, owned by the user of its
// services.
func NodesDir() string { return StateDir() + "-nodes" }

// NodeDir is the node's own directory: the working directory of its
// services unless the file says, and NSLAB_DIR in their environment.
func NodeDir(lab, node string) string { return filepath.Join(NodesDir(), lab, node) }

// LabNodesDir holds the directories of the lab's nodes.
func LabNodesDir(lab string) string { return filepath.Join(NodesDir(), lab) }

// LogPath is the log file of a service.
func LogPath(lab, node, svc string) string {
	return filepath.Join(Dir(lab), "logs", node, svc+".log")
}

func specFile(lab string) string  { return filepath.Join(Dir(lab), "spec.json") }
func stateFile(lab string) string { return filepath.Join(Dir(lab), "state.json") }
func pidFile(lab string) string   { return filepath.Join(Dir(lab), "supervisor.pid") }
func lockFile(lab string) string  { return filepath.Join(Dir(lab), "supervisor.lock") }
func supLog(lab string) string    { return filepath.Join(Dir(lab), "supervisor.log") }

// JournalFile is the lab's journal of service events, one JSON object a
// line (see Event).
func JournalFile(lab string) string { return filepath.Join(Dir(lab), "events.jsonl") }
