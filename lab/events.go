package lab

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/nslab/nslab/journal"
	"github.com/nslab/nslab/kernel"
	"github.com/nslab/nslab/plan"
)

// EventsOptions say which events Events gives.
type EventsOptions struct {
	// Lab is the lab whose events are given; "" is every lab.
	Lab string
	// Since drops the journal's events before it.
	Since time.Time
	// Follow goes on giving events as they come, until the context is
	// done; without it Events gives the journals' events and returns.
	Follow bool
	// Kernel adds, while following, the kernel's notifications of the
	// labs' links, addresses and routes (kernel.Watcher: one socket for
	// every namespace).
	Kernel bool
	// Every is how often the journals are read while following; 0 is
	// 100 ms.
	Every time.Duration
	// Logf, if set, is told of what goes wrong on the way (a namespace
	// whose id cannot be read), which does not stop the stream.
	Logf func(format string, args ...any)
}

// Events gives, in time order, the events of the labs' journals (their
// commands' and their services supervisor's), then with Follow the new
// ones as they come, merged with the kernel's notifications.
func Events(ctx context.Context, o EventsOptions, fn func(journal.Event)) error {
	if o.Every <= 0 {
		o.Every = 100 * time.Millisecond
	}
	if o.Logf == nil {
		o.Logf = func(string, ...any) {}
	}
	s := &eventStream{o: o, fn: fn, tails: map[string][]*journal.Tail{}}
	defer s.close()
	var kev chan journal.Event
	var start func()
	if o.Follow && o.Kernel {
		var err error
		if kev, start, err = s.watch(ctx); err != nil {
			return err
		}
	}
	s.poll(true)
	if !o.Follow {
		return nil
	}
	if start != nil {
		go start()
	}
	tick := time.NewTicker(o.Every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case e := <-kev:
			fn(e)
		case <-tick.C:
			s.poll(false)
		}
	}
}

type eventStream struct {
	o     EventsOptions
	fn    func(journal.Event)
	tails map[string][]*journal.Tail
	seen  time.Time // when the labs were last listed
}

func (s *eventStream) close() {
	for _, ts := range s.tails {
		for _, t := range ts {
			t.Close()
		}
	}
}

// poll lists the labs (at most once a second), reads what their journals
// gained and gives it in time order.
func (s *eventStream) poll(replay bool) {
	if time.Since(s.seen) >= time.Second {
		s.seen = time.Now()
		names := []string{s.o.Lab}
		if s.o.Lab == "" {
			names, _ = Names()
		}
		for _, n := range names {
			if _, ok := s.tails[n]; !ok {
				s.tails[n] = []*journal.Tail{journal.NewTail(JournalFile(n), 0), journal.NewTail(ServiceJournalFile(n), 0)}
			}
		}
	}
	var all []journal.Event
	for name, ts := range s.tails {
		for i, t := range ts {
			ev, err := t.Poll()
			if err != nil {
				s.o.Logf("reading %s: %v", t.Path, err)
			}
			for _, e := range ev {
				if i == 1 {
					e.Source = journal.FromSupervisor
				}
				if !e.Time.Before(s.o.Since) {
					all = append(all, e)
				}
			}
		}
		if _, err := os.Stat(labDir(name)); err != nil && s.o.Lab == "" {
			for _, t := range ts {
				t.Close()
			}
			delete(s.tails, name) // gone (down); a new lab of the name is found anew
		}
	}
	journal.Sort(all)
	for _, e := range all {
		s.fn(e)
	}
}

// watch starts the kernel's notifications of the labs' namespaces and
// host links, as events on the channel returned.
func (s *eventStream) watch(ctx context.Context) (chan journal.Event, func(), error) {
	want := func(ns string) bool {
		l, _, ok := plan.SplitNetnsName(ns)
		return ok && (s.o.Lab == "" || l == s.o.Lab)
	}
	ids := kernel.NewNsIDs()
	if err := ids.Refresh(want); err != nil {
		s.o.Logf("watching the kernel: %v", err) // those namespaces are not heard
	}
	w, err := kernel.NewWatcher(ids, want)
	if err != nil {
		return nil, nil, fmt.Errorf("watching the kernel: %w (--no-kernel leaves its notifications out)", err)
	}
	c, err := kernel.NewCounter()
	if err != nil {
		w.Close()
		return nil, nil, fmt.Errorf("watching the kernel: %w", err)
	}
	out := make(chan journal.Event, 4096)
	// start learns the links as they are, so that only changes are
	// events (the notifications meanwhile wait in the socket), then
	// follows. It runs after the journal's replay: learning a machine of
	// many labs takes a while.
	start := func() {
		defer w.Close()
		s.learn(c, ids, w, want)
		c.Close()
		err := w.Run(ctx, func(ne kernel.NetEvent) {
			if e, ok := s.kernelEvent(ne); ok {
				select {
				case out <- e:
				case <-ctx.Done():
				}
			}
		})
		if err != nil {
			s.o.Logf("watching the kernel: %v", err)
		}
	}
	return out, start, nil
}

// learn reads the links of the namespaces followed and of the root
// namespace: for one lab, only its bridges' ports there (the root
// namespace of a machine with other big labs holds thousands of links).
func (s *eventStream) learn(c *kernel.Counter, ids *kernel.NsIDs, w *kernel.Watcher, want func(string) bool) {
	learn := func(ns string, lc []kernel.LinkCounters, err error) {
		if err == nil {
			w.Learn(ns, lc)
		}
	}
	if s.o.Lab == "" {
		lc, err := c.Links(ids, "")
		learn("", lc, err)
	} else if t, err := Topology(s.o.Lab); err == nil {
		for _, b := range t.Bridges {
			lc, err := c.Ports(plan.BridgeName(s.o.Lab, b.Name))
			learn("", lc, err)
		}
	}
	spaces, _ := os.ReadDir(kernel.NetnsDir)
	for _, e := range spaces {
		if want(e.Name()) {
			lc, err := c.Links(ids, e.Name())
			learn(e.Name(), lc, err)
		}
	}
}

// kernelEvent makes a journal event of a notification, naming the lab
// and node; notifications of what is not a lab's are none.
func (s *eventStream) kernelEvent(ne kernel.NetEvent) (journal.Event, bool) {
	e := journal.Event{Time: ne.Time.UTC(), Kind: ne.Kind, Source: journal.FromKernel, Iface: ne.Link, Detail: ne.Detail}
	if ne.Netns != "" {
		l, node, ok := plan.SplitNetnsName(ne.Netns)
		if !ok {
			return e, false
		}
		e.Lab, e.Node = l, node
	} else {
		l, kind, name, ok := kernel.ParseMarker(ne.Alias)
		if !ok {
			return e, false
		}
		e.Lab, e.Node, e.Iface = l, "host", name
		if kind == kernel.KindNode {
			return e, false
		}
	}
	return e, s.o.Lab == "" || e.Lab == s.o.Lab
}
