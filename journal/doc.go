// Package journal is a lab's journal: an append-only file of events, one
// JSON object a line, in the lab's state directory. Every command that
// changes the lab appends one event (lab up and down, cables cut and
// joined, partitions, blocks, shapes, heals); nslab events replays and
// follows it, merged with the kernel's notifications and the services
// supervisor's own journal, and nslab web shows the same stream.
//
// Each event is written with one write(2) on a file opened O_APPEND, so
// lines of concurrent writers do not interleave and a killed writer loses
// at most its last line. A reader skips a torn line: the part of a line a
// killed writer left, up to where the next writer's line begins.
//
// The package is pure Go: it reads and writes files, nothing of the
// kernel's network.
package journal
