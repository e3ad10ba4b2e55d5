package fleet

import (
	"fmt"
	"slices"
	"strings"
)

// keeps says what a host of a record may hold of the lab: the nodes
// placed there, for a message about a host that could not be reached.
func keeps(rec *Record, host string) string {
	var nodes []string
	for n, h := range rec.Placement {
		if h == host {
			nodes = append(nodes, n)
		}
	}
	slices.Sort(nodes)
	if len(nodes) == 0 {
		return "its tunnels and bridges of the lab (no node is placed there)"
	}
	const shown = 8
	list := strings.Join(nodes[:min(len(nodes), shown)], ", ")
	if len(nodes) > shown {
		list += fmt.Sprintf(" and %d more", len(nodes)-shown)
	}
	return fmt.Sprintf("%s %s, with their cables and tunnels", plural(len(nodes), "node"), list)
}

func plural(n int, what string) string {
	if n == 1 {
		return what
	}
	return what + "s"
}

// forget drops the hosts of opt.Forget from the record (written back),
// saying for each what it may still hold; a name the record does not
// have is an error that lists the hosts it has.
func forget(rec *Record, opt *Options) error {
	if len(opt.Forget) == 0 {
		return nil
	}
	var names []string
	for _, hr := range rec.Hosts {
		names = append(names, hr.Name)
	}
	for _, f := range opt.Forget {
		if !slices.Contains(names, f) {
			return fmt.Errorf("lab %s: down --forget %s: the lab's record has no host %s (it has: %s)", rec.Lab, f, f, strings.Join(names, ", "))
		}
	}
	rec.Hosts = slices.DeleteFunc(rec.Hosts, func(hr HostRecord) bool {
		if !slices.Contains(opt.Forget, hr.Name) {
			return false
		}
		where := "this machine"
		if !hr.Local {
			where = "ssh " + hr.SSH
		}
		opt.logf("host %s (%s) forgotten: lab %s is no longer removed from it; it may still hold %s (on the host, nslab down %s removes them)",
			hr.Name, where, rec.Lab, keeps(rec, hr.Name), rec.Lab)
		return true
	})
	return writeRecord(rec)
}
