package lab

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/nslab/nslab/journal"
	"github.com/nslab/nslab/kernel"
	"github.com/nslab/nslab/plan"
	"github.com/nslab/nslab/service"
)

// Teardown tries every step whatever fails before it, and returns
// errors.Join of what failed: a lab whose one object cannot be removed
// loses all the others, and the next down finds only what is left.

// down removes a lab: the Down of Down, DownAll and a failed build.
func down(c *kernel.Conn, name string, opt *Options) error {
	// The marker goes first: a down killed part-way leaves a lab that is
	// neither running nor gone (unmounted /run/netns entries, nodes
	// without their cables), which the next up must not take for the
	// running lab of the saved topology.
	var errs []error
	if _, err := os.Stat(labDir(name)); err == nil {
		if err := os.WriteFile(removingFile(name), nil, 0o600); err != nil {
			errs = append(errs, fmt.Errorf("lab %s: saving lab state: %w", name, err))
		}
	}
	start := time.Now()
	st, err := observe(c, name)
	if err != nil {
		return errors.Join(append(errs, err)...)
	}
	opt.timing("observe", len(st.Namespaces)+len(st.Links), time.Since(start))
	return errors.Join(append(errs, downObserved(c, name, st, opt))...)
}

// downObserved is down on the machine as observed in st. The lab's state
// directory goes last, and only when all else went: it tells the next
// down which leftovers are the lab's (see plan.Down).
func downObserved(c *kernel.Conn, name string, st *kernel.State, opt *Options) error {
	var errs []error
	start := time.Now()
	// The services first, in the reverse order of after:, and their
	// supervisor, which would restart them; then whatever else runs in
	// the nodes.
	if err := service.Stop(context.Background(), name); err != nil {
		errs = append(errs, err)
	}
	spaces := labNamespaces(name, st)
	if n, err := kernel.KillIn(spaces, 2*time.Second); err != nil {
		errs = append(errs, fmt.Errorf("ending processes of lab %s: %w", name, err))
	} else if n > 0 {
		opt.logf("ended %s in lab %s", count(n, "process"), name)
	}
	opt.timing("processes", len(spaces), time.Since(start))
	if err := applyEvery(context.Background(), c, plan.Down(name, st, savedFor(name, st)), opt); err != nil {
		errs = append(errs, err)
	}
	if left := markedNamespaces(name); len(left) > 0 {
		errs = append(errs, fmt.Errorf("lab %s: %s of the lab still named under %s after removal (%s); nslab down %s tries again", name,
			count(len(left), "namespace"), kernel.NetnsDir, strings.Join(left[:min(len(left), 5)], ", "), name))
	}
	if err := kernel.DropUTSHolder(UTSHolder(name)); err != nil {
		errs = append(errs, fmt.Errorf("lab %s: %w", name, err))
	}
	if err := removeNodeDirs(name, nil); err != nil {
		errs = append(errs, fmt.Errorf("lab %s: removing its nodes' directories: %w", name, err))
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	note(name, "lab-down", journal.Event{})
	return os.RemoveAll(labDir(name))
}

// applyEvery runs every operation of a plan of removal, stage by stage,
// whatever fails, and joins what failed (at most maxErrors of each
// stage).
func applyEvery(ctx context.Context, c *kernel.Conn, p *plan.Plan, opt *Options) error {
	var errs []error
	m := newMeter(p, 0, opt.Progress)
	for _, s := range p.Stages {
		start := time.Now()
		err := runStage(ctx, c, s, opt.workers(), true, func(op kernel.Op) { m.tick(s.Name, op) })
		if err != nil {
			errs = append(errs, err)
		}
		opt.timing(s.Name, len(s.Ops), time.Since(start))
	}
	return errors.Join(errs...)
}

// markedNamespaces lists the namespaces named under /run/netns with the
// lab's prefix and mark: none once the lab is down.
func markedNamespaces(name string) []string {
	var out []string
	entries, _ := os.ReadDir(kernel.NetnsDir)
	prefix := plan.NetnsName(name, "")
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), prefix) {
			continue
		}
		if l, _, _, ok := kernel.ParseMarker(kernel.NetnsMark(e.Name())); ok && l == name {
			out = append(out, e.Name())
		}
	}
	return out
}
