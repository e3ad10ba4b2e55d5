package lab

import (
	"os"

	"github.com/nslab/nslab/kernel"
	"github.com/nslab/nslab/plan"
	"github.com/nslab/nslab/topology"
)

// FullPlan is every step that builds t on a machine without it, whether
// the lab runs or not: for a running lab, the whole lab as it is built
// (with the addresses nslab chose for it when it was), not the change
// that Plan gives. It reads no kernel state.
func FullPlan(t *topology.Lab, source []byte) (*plan.Plan, error) {
	if len(t.Assignments()) > 0 {
		if _, err := os.Stat(topologyFile(t.Name)); err == nil {
			if nt, err := reparse(t, source, savedAssignments(t.Name)); err == nil {
				t = nt
			}
		}
	}
	empty := &kernel.State{Namespaces: map[string]string{}, Links: map[string]*kernel.RootLink{}, Names: map[string]string{}, UTSHolder: UTSHolder(t.Name)}
	return plan.Up(t, empty)
}
