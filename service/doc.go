// Package service runs the programs of a lab's nodes (their services: key)
// and watches them: one supervisor process per lab, started by up,
// detached from it, that starts each service inside its node
// (kernel.StartFrom), restarts it as its policy says, checks its readiness,
// and writes what it sees to the lab's state directory.
//
// Files, under DIR = /run/nslab/LAB/services:
//
//	DIR/spec.json        what must run (Spec), written by up, atomically
//	DIR/state.json       what runs (State), rewritten by the supervisor
//	DIR/supervisor.pid   "PID STARTTIME" of the supervisor
//	DIR/supervisor.lock  held (flock) by the running supervisor
//	DIR/supervisor.log   the supervisor's own messages (its stderr)
//	DIR/events.jsonl     the journal: one Event a line (starts, exits,
//	                     readiness, failures, stops, adoptions)
//	DIR/logs/NODE/SERVICE.log   a service's stdout and stderr (capped;
//	                     SERVICE.log.1 holds the last cap bytes before)
//
// and the nodes' own directories, NodesDir/LAB/NODE (/run/nslab-nodes),
// outside the lab's directory, which is root's alone: a service of
// another user reaches its node's directory (NSLAB_DIR).
//
// # The supervisor
//
// Apply starts the supervisor when none runs: the running binary
// (/proc/self/exe) re-executed with argv[0] SupervisorName
// ("nslab-supervise"), the lab's name and the state directory, in a
// session of its own, stdin and stdout on /dev/null, stderr appended to
// supervisor.log. An init
// function of this package recognises that argv[0] and runs the
// supervisor instead of the program: nslab itself, and any program or
// Go test binary that imports package lab, need no hook of their own.
// The supervisor takes a new spec on SIGHUP (Apply sends it) and stops
// every service on SIGTERM (Stop sends it), then ends; with no service
// left to run it ends by itself.
//
// A service's environment holds PATH (the one its env sets, or
// topology.ServicePath; its program is looked up there), HOME (the
// supervisor's, root's), or HOME, USER and LOGNAME of the service's user
// when it has one, NSLAB_LAB, NSLAB_NODE, NSLAB_SERVICE, NSLAB_DIR (its
// node's directory, also its working directory unless the file says)
// and the file's env, in that order (a later entry wins): nothing else of
// whoever ran up.
//
// It starts each service with kernel.StartFrom, in its own session
// (process group; stop signals go to the group), output opened O_APPEND
// on its log (no pipe through the supervisor), and learns of exits
// through pidfds, one-shot, in a single epoll; a child's status is
// reaped with waitid(P_PIDFD). A service's output goes straight to its
// log file, so services outlive a killed supervisor (no parent-death
// signal); a new supervisor adopts them from state.json, trusting a pid
// only with the same start time (/proc/PID/stat), through pidfd_open.
// Stop ends them without a supervisor too, and up's down then ends
// whatever else runs in the lab's namespaces.
//
// Logs are capped while a supervisor runs (inotify on the logs'
// directories): a log over the cap keeps its last cap bytes in LOG.1 and
// is truncated; how far over the cap a writer gets depends on how soon
// the supervisor runs after its writes (see TestServiceLogCap).
package service
