// Package lab builds, changes and removes labs on this machine: it applies
// the plans of package plan through package kernel, under a lock per lab,
// and keeps what it must remember about running labs under StateDir
// (/run/nslab). It is what the nslab command runs, and it is usable from
// Go: the kernel work needs Linux and root (or CAP_NET_ADMIN,
// CAP_SYS_ADMIN and CAP_DAC_OVERRIDE).
//
// A lab is a topology.Lab, parsed from a file (topology.Load) or text
// (topology.Parse):
//
//	t, err := topology.Load("lab.yaml")
//	...
//	err = lab.Up(ctx, t, nil, lab.Options{})    // build it, or change the running lab to match t
//	defer lab.Down(ctx, t.Name, lab.Options{}) // remove every trace of it
//	rep, err := lab.Check(ctx, t, check.Options{})
//
// Up builds a lab in stages, many operations at a time, and removes what
// it made when it fails part-way; on a running lab it changes only what
// differs from the file it was built from (and, with Options.Repair, puts
// back what drifted). Down removes every object marked as the lab's,
// trying every step whatever fails and returning what failed
// (errors.Join); DownAll does so for every lab on the machine. Cut,
// Partition and Heal break and mend a running lab's network; GetStatus,
// Names, Topology and Processes read it; Plan and FullPlan say what Up
// would do without doing it.
//
// Nodes are named network namespaces (LAB.NODE under /run/netns), so ip
// netns exec and nsenter work on them; Node.Exec runs a command in one
// as nslab exec does, and kernel.Do runs Go code in one.
//
// The kernel is the truth: the files under StateDir (the topology a lab
// was built from, the addresses nslab chose, the faults in force, the
// hosts file and resolv.conf of its nodes) are hints that a crash may
// leave stale: the next Up finishes or rebuilds a lab that a killed nslab
// left half made, and Down removes it.
package lab
