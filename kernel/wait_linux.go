package kernel

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/vishvananda/netlink"
)

// WaitUp waits until the named links of a namespace are operationally up.
// The kernel brings a link's carrier, operational state and queueing
// discipline up asynchronously (the linkwatch worker, which runs up to a
// second late when many links change at once); until then the link drops
// what it sends. Waiting makes a lab usable the moment up returns.
func (c *Conn) WaitUp(ctx context.Context, ns string, names []string) error {
	h, err := c.Handle(ns)
	if err != nil {
		return err
	}
	pending := make(map[string]string, len(names))
	for _, n := range names {
		pending[n] = "missing"
	}
	for delay := 200 * time.Microsecond; ; delay = min(2*delay, 20*time.Millisecond) {
		links, err := retryDump(h.LinkList)
		if err != nil {
			return opErr(ns, "listing links", err)
		}
		for _, l := range links {
			a := l.Attrs()
			if _, ok := pending[a.Name]; !ok {
				continue
			}
			if a.OperState == netlink.OperUp {
				delete(pending, a.Name)
			} else {
				pending[a.Name] = a.OperState.String()
			}
		}
		if len(pending) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return opErr(ns, "waiting for links to come up", fmt.Errorf("%w: %s", ctx.Err(), describePending(pending)))
		case <-time.After(delay):
		}
	}
}

func describePending(p map[string]string) string {
	out := make([]string, 0, len(p))
	for n, s := range p {
		out = append(out, n+" is "+s)
	}
	sort.Strings(out)
	return strings.Join(out, ", ")
}
