// Package service runs the programs of a lab's nodes (their services: key)
// and watches them: one supervisor process per lab, started by up,
// detached from it, that starts each service inside its node
// (kernel.StartIn), restarts it as its policy says, checks its readiness,
// and writes what it sees to the lab's state directory.
//
// Files, under DIR = /run/nslab/LAB/services:
//
//	DIR/spec.json        what must run (Spec), written by up, atomically
//	DIR/state.json       what runs (State), rewritten by the supervisor
//	DIR/supervisor.pid   "PID STARTTIME" of the supervisor
//	DIR/logs/NODE/SERVICE.log   a service's stdout and stderr (capped)
//
// A service's output goes straight to its log file, not through the
// supervisor, so services outlive a killed supervisor; a new supervisor
// adopts them (pidfds) from state.json, and Stop ends them without one.
package service
