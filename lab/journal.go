package lab

import (
	"os"
	"path/filepath"
	"strings"

	"github.com/nslab/nslab/journal"
	"github.com/nslab/nslab/service"
)

// JournalFile is the lab's journal (package journal): what commands did
// to the lab, one event a line. It goes with the lab's state directory:
// nslab down removes it after writing its last event, lab-down.
func JournalFile(name string) string { return filepath.Join(labDir(name), "events.jsonl") }

// ServiceJournalFile is the services supervisor's journal of the lab
// (service starts, exits, readiness), merged into nslab events.
func ServiceJournalFile(name string) string { return service.JournalFile(name) }

// note appends an event of this process to the lab's journal, if the lab
// has a state directory. Failing to write it fails nothing: the journal
// tells what happened, the kernel and the record of faults are the truth.
func note(name, kind string, e journal.Event) {
	if _, err := os.Stat(labDir(name)); err != nil {
		return
	}
	e.Lab, e.Kind, e.Source = name, kind, journal.FromNslab
	if e.PID == 0 {
		e.PID = os.Getpid()
	}
	_ = journal.Append(JournalFile(name), e)
}

// noteGroups words the groups of a partition: "h1,h2 | h3".
func noteGroups(groups [][]string) string {
	var g []string
	for _, x := range groups {
		g = append(g, strings.Join(x, ","))
	}
	return strings.Join(g, " | ")
}
