package lab

import (
	"fmt"
	"strings"

	"github.com/nslab/nslab/kernel"
	"github.com/nslab/nslab/topology"
)

// The checks of a lab against this kernel, before anything is built.

// checkSysctls finds the nodes' settings that this kernel does not have,
// before anything is built: a typo or a missing module is reported at its
// line instead of failing the build part-way. A per-interface setting is
// looked up under default, which every interface copies.
func checkSysctls(t *topology.Lab) error {
	known := map[string]bool{}
	var errs topology.ErrorList
	for _, n := range t.Nodes {
		for _, s := range n.Sysctls {
			key := s.Key
			if dev, ok := topology.SysctlDev(key); ok {
				f := strings.SplitN(key, ".", 5)
				f[3] = "default"
				if dev == "all" || dev == "lo" {
					f[3] = dev
				}
				key = strings.Join(f, ".")
			}
			ok, seen := known[key]
			if !seen {
				ok = kernel.SysctlKnown(key)
				known[key] = ok
			}
			if !ok {
				errs = append(errs, &topology.Error{Pos: s.Pos, Msg: "sysctl " + s.Key + ": this kernel has no such setting (no /proc/sys/" +
					strings.ReplaceAll(key, ".", "/") + "); check the name, or load the kernel module that provides it"})
			}
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return errs
}

// checkShapes finds the shapes this kernel cannot make, before anything
// is built: delay, jitter and loss need the netem qdisc, a rate alone
// tbf.
func checkShapes(t *topology.Lab) error {
	var errs topology.ErrorList
	for _, l := range t.Links {
		s := l.Shape()
		if s == nil {
			continue
		}
		kind, what := "tbf", "a rate"
		if s.Netem() {
			kind, what = "netem", "delay, jitter and loss"
		}
		if err := kernel.QdiscSupported(kind); err != nil {
			msg := fmt.Sprintf("shape: %s need the %s qdisc, which this kernel lacks (%v): load it with modprobe sch_%s", what, kind, err, kind)
			if kind == "netem" {
				msg += ", or shape the rate alone"
			}
			errs = append(errs, &topology.Error{Pos: s.Pos, Msg: msg})
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return errs
}
