package check

import "testing"

// TestPrimePlanNeverRoot: a node that Run's caller maps to no namespace
// ("", which is the caller's own) gets no entries and is never entered
// to write or read any: the first burst would have opened a netlink
// socket in the caller's namespace and written the node's entries
// there, on the link of that name.
func TestPrimePlanNeverRoot(t *testing.T) {
	lab := routedLab("router")
	w := newWorld(lab)
	r := newReport(lab, w.expectAll())
	idx := make([]int, len(r.Probes))
	for i := range idx {
		idx[i] = i
	}
	nsPath := func(stack string) string {
		if StackNode(stack) == "b" {
			return ""
		}
		return "/run/netns/test." + StackNode(stack)
	}
	vs := &visits{byPath: map[string]*visit{}}
	pw := newPrimer(w, nsPath).plan(r.Probes, idx, vs)
	if _, ok := vs.byPath[""]; ok {
		t.Errorf("plan visits the caller's namespace for node b")
	}
	if pw.flush[""] {
		t.Errorf("plan flushes the caller's namespace for node b")
	}
	n := 0
	for i, e := range pw.entries {
		if pw.at[i] != nil {
			n++
			if w.stacks[e.stack].name == "b" || w.stacks[e.own].name == "b" {
				t.Errorf("entry %+v of node b planned", e)
			}
		}
	}
	if n == 0 {
		t.Errorf("no entry planned at all")
	}
}
