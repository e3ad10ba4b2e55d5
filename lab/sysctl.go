package lab

import (
	"strings"

	"github.com/nslab/nslab/kernel"
	"github.com/nslab/nslab/topology"
)

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
