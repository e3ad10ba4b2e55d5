package lab

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/nslab/nslab/internal/natsort"
	"github.com/nslab/nslab/kernel"
	"github.com/nslab/nslab/plan"
	"github.com/nslab/nslab/topology"
)

// savedFor tells plan.Down what the lab's state says, so that it also
// removes what an nslab killed part-way left without its mark. The saved
// topology is read only when the machine holds such objects: a normal
// lab's down does not pay for parsing it.
func savedFor(name string, st *kernel.State) plan.Saved {
	var sv plan.Saved
	if _, err := os.Stat(labDir(name)); err == nil {
		sv.StateDir = true
	}
	if !sv.StateDir || !mayHaveOrphans(name, st) {
		return sv
	}
	if t, err := Topology(name); err == nil {
		sv.Topology = t
	}
	return sv
}

// mayHaveOrphans reports whether the state holds a root link of the lab's
// group without an alias or a stale /run/netns entry of the lab's prefix.
func mayHaveOrphans(name string, st *kernel.State) bool {
	group := plan.Group(name)
	for _, l := range st.Links {
		if l.Group == group && l.Alias == "" {
			return true
		}
	}
	prefix := plan.NetnsName(name, "")
	for ns := range st.Stale {
		if strings.HasPrefix(ns, prefix) {
			return true
		}
	}
	return false
}

// Removed is what DownAll removed of one lab.
type Removed struct {
	Lab string
	// Namespaces and Links count the lab's namespaces (stale entries of
	// /run/netns included) and root links, as observed before removal.
	Namespaces, Links int
	// State says the lab had a state directory or a lock file.
	State bool
	// Err is why the lab could not be removed, if it could not.
	Err error
}

func (r Removed) String() string {
	var parts []string
	if r.Namespaces > 0 {
		parts = append(parts, count(r.Namespaces, "namespace"))
	}
	if r.Links > 0 {
		parts = append(parts, count(r.Links, "link"))
	}
	if r.State {
		parts = append(parts, "state")
	}
	if len(parts) == 0 {
		parts = append(parts, "nothing")
	}
	return strings.Join(parts, ", ")
}

func count(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	if strings.HasSuffix(word, "s") {
		return fmt.Sprintf("%d %ses", n, word)
	}
	return fmt.Sprintf("%d %ss", n, word)
}

// DownAll removes every lab on the machine, found by nslab's marks: the
// namespaces whose loopback carries a mark, the root links whose alias is
// a mark, the state directories and lock files under StateDir. For each
// lab it does what Down does, so that what a killed nslab left of a lab
// with saved state goes too (see plan.Down). Objects without a mark are
// never touched; marks that name no valid lab are reported and left.
func DownAll(ctx context.Context, opt Options) ([]Removed, error) {
	c := kernel.NewConn()
	defer c.Close()
	st, err := kernel.Observe(c, nil)
	if err != nil {
		return nil, err
	}
	labs := map[string]*Removed{}
	get := func(name string) *Removed {
		r := labs[name]
		if r == nil {
			r = &Removed{Lab: name}
			labs[name] = r
		}
		return r
	}
	// Namespaces marked as a lab's that do not bear the lab's prefix
	// (nslab makes none such, but the mark is what counts).
	strays := map[string][]string{}
	for ns, mark := range st.Namespaces {
		if l, _, _, ok := kernel.ParseMarker(mark); ok {
			get(l)
			if lab, _, _ := plan.SplitNetnsName(ns); lab != l {
				strays[l] = append(strays[l], ns)
			}
		}
	}
	for _, l := range st.Links {
		if lab, _, _, ok := kernel.ParseMarker(l.Alias); ok {
			get(lab)
		}
	}
	// nftables tables nslab made (a killed up may leave one alone).
	if tables, err := kernel.NftTables(); err == nil {
		for l := range tables {
			get(l)
		}
	}
	hadDir := map[string]bool{}
	for _, dir := range []string{StateDir, filepath.Join(StateDir, ".locks")} {
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			if !strings.HasPrefix(e.Name(), ".") {
				get(e.Name()).State = true
				hadDir[e.Name()] = hadDir[e.Name()] || dir == StateDir
			}
		}
	}
	names := make([]string, 0, len(labs))
	for n := range labs {
		names = append(names, n)
	}
	slices.SortFunc(names, natsort.Compare)
	out := make([]Removed, 0, len(names))
	var errs []error
	for _, name := range names {
		r := labs[name]
		if err := topology.ValidLabName(name); err != nil {
			r.Err = fmt.Errorf("marks name %q, which is no lab name nslab makes: left alone", name)
			out = append(out, *r)
			continue
		}
		r.Err = downLab(ctx, c, r, hadDir[name], strays[name], opt)
		if r.Err != nil {
			errs = append(errs, fmt.Errorf("lab %s: %w", name, r.Err))
		}
		out = append(out, *r)
	}
	return out, errors.Join(errs...)
}

// downLab is Down on a shared connection; strays are namespaces marked
// as the lab's under other names, which go too. It counts what it removes
// into r from the machine as it is once the lab's lock is held: another
// nslab may have changed or removed the lab while this one waited.
// hadDir says the lab had a state directory when DownAll looked.
func downLab(ctx context.Context, c *kernel.Conn, r *Removed, hadDir bool, strays []string, opt Options) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	name := r.Lab
	lk, err := lock(ctx, name, &opt)
	if err != nil {
		return err
	}
	st, err := observe(c, name)
	if err != nil {
		lk.unlock()
		return err
	}
	r.count(plan.Down(name, st, savedFor(name, st)))
	// A lab of a lock file alone keeps its state; one whose directory
	// went while this nslab waited has none left.
	if _, err := os.Stat(labDir(name)); err == nil {
		r.State = true
	} else if hadDir {
		r.State = false
	}
	if err := downObserved(c, name, st, &opt); err != nil {
		lk.unlock()
		return err
	}
	if len(strays) > 0 {
		if err := downStrays(c, name, strays, &opt); err != nil {
			lk.unlock()
			return err
		}
	}
	lk.remove()
	return nil
}

// count counts the namespaces and root links that p removes.
func (r *Removed) count(p *plan.Plan) {
	r.Namespaces, r.Links = 0, 0
	for _, s := range p.Stages {
		for _, o := range s.Ops {
			switch o := o.(type) {
			case *kernel.NetnsDel:
				r.Namespaces++
			case *kernel.LinkGroupDel:
				r.Links += len(o.Names)
			case *kernel.LinkDel:
				r.Links++
			}
		}
	}
}

// downStrays removes namespaces outside the lab's prefix whose mark, read
// again now, is still the lab's.
func downStrays(c *kernel.Conn, name string, strays []string, opt *Options) error {
	var ops []kernel.Op
	var spaces []string
	for _, ns := range strays {
		if l, _, _, ok := kernel.ParseMarker(kernel.NetnsMark(ns)); ok && l == name {
			spaces = append(spaces, ns)
			ops = append(ops, &kernel.NetnsDel{Name: ns})
		}
	}
	if len(ops) == 0 {
		return nil
	}
	if _, err := kernel.KillIn(spaces, 2*time.Second); err != nil {
		return fmt.Errorf("ending processes of lab %s: %w", name, err)
	}
	return apply(context.Background(), c, &plan.Plan{Lab: name, Stages: []plan.Stage{{Name: "namespaces", Ops: ops}}}, opt, nil)
}
