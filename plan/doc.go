// Package plan turns a lab's model into the kernel operations that make
// it real: a Plan, ordered stages of kernel.Op. It is pure: it reads a
// topology.Lab and the machine as observed (a kernel.State) and changes
// nothing, needs no root, and builds on any OS; package lab applies the
// plans on Linux.
//
//   - Up plans a lab on a machine without it, and fails with a ClashError
//     when a name it needs belongs to an object nslab did not make.
//   - Reconcile plans the change from the topology a running lab was built
//     from to a new one: only what differs, and what drifted from the file.
//   - Down plans a lab's removal: every object marked as the lab's.
//   - Cut and Partition plan the faults of a running lab; Faults records
//     them so that a change or a repair keeps them.
//
// Every Op renders as the iproute2 (ip, tc, nft) commands that do the
// same by hand: Plan.WriteScript prints a plan as a shell script, which is
// what `nslab plan` shows and how the plans are tested (golden files in
// testdata). The operations of a stage are independent and may run in
// parallel; a stage starts when the one before it has finished.
//
// The package also names a lab's objects on the machine: NetnsName for a
// node's namespace (LAB.NODE under /run/netns), BridgeName, PortName,
// HostIfName and TrunkName for the short kernel names of its links in the
// root namespace, with readable altnames beside them; kernel.Marker marks
// them as the lab's.
package plan
