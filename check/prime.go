package check

import (
	"net/netip"

	"github.com/nslab/nslab/topology"
)

// Probes of a big lab go out with their neighbours primed. On a segment
// of N bridge ports every ARP request is flooded to the N-1 other nodes,
// and so is every neighbour solicitation while the bridge knows no
// multicast querier (lab bridges know none), each copy examined in its
// node (a route lookup for ARP, a multicast lookup for NDP): a sampled
// pair of a big lab is new to its segments, and those floods were most
// of a check's CPU time (docs/kernel-notes.md, Probing). So when a check
// probes in waves, each wave first writes the entries its probes need,
// there and back, into the nodes that use them: the address at the MAC
// address of the interface that the model says answers for it, read from
// that node, as permanent entries marked as nslab's. The probes then go
// out without a solicitation. Permanent entries do not count against
// the shared table's gc_thresh3 (kernel.NeighConn.AddPermanent), so
// waves of a primed check are sized by what a wave may hold open (see
// neighLimits.primed), not by the table; after its probes, a wave
// deletes the entries it made, and nothing else (an entry that was
// there before is left as it was). A probe that fails is tried again a second later with
// nothing primed, so a path works in a check exactly when the kernel's own
// resolution would make it work; what priming cannot hide is a wrong
// model (an address answered by another interface than the file says),
// which then fails the first try only.

// primeEntry is a neighbour entry that a wave needs: in stack stack, on
// interface ifc, address addr, answered by interface ownIfc of stack
// own.
type primeEntry struct {
	stack, ifc  int32
	addr        netip.Addr
	own, ownIfc int32
}

// primes lists, once each, the neighbour entries that probes idx of ps
// need, there and back. It leaves out the host's (the root namespace is
// not the lab's to fill, and its probes are few) and those the model
// finds no answer for; it returns apart the stacks but the host's that
// then resolve a neighbour by themselves (see unprimed).
func (w *world) primes(ps []ProbeResult, idx []int) ([]primeEntry, []int32) {
	seen := map[neighbour]bool{}
	var out []primeEntry
	var unprimed []int32
	var buf []neighbour
	for _, i := range idx {
		buf = w.neighbours(&ps[i].Probe, buf[:0])
		for _, nb := range buf {
			if seen[nb] {
				continue
			}
			seen[nb] = true
			s := w.stacks[nb.stack]
			own, ownIfc, ok := w.neighbor(s, nb.ifc, w.ref(nb.addr))
			if s.name == topology.HostNode {
				continue
			}
			if !ok || own.name == topology.HostNode {
				unprimed = append(unprimed, nb.stack)
				continue
			}
			out = append(out, primeEntry{nb.stack, nb.ifc, nb.addr, own.id, ownIfc})
		}
	}
	return out, unprimed
}
