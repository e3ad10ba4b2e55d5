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

// LinksGone removes links that go away by themselves: the root ends of
// veth pairs whose other end was in a namespace just deleted. The kernel
// destroys such namespaces, with their veth pairs, in batches and much
// faster than one deletion per link; LinksGone waits for that and deletes
// what is still there after Grace.
//
// Equivalent to: ip link delete NAME, for each name
type LinksGone struct {
	Names []string
	Grace time.Duration
}

func (o *LinksGone) Namespace() string { return "" }

func (o *LinksGone) String() string {
	out := make([]string, len(o.Names))
	for i, n := range o.Names {
		out[i] = "ip link delete " + n
	}
	return lines(out...)
}

func (o *LinksGone) Apply(c *Conn) error {
	left, err := o.wait(c)
	if err != nil {
		return err
	}
	for _, n := range left {
		if err := (&LinkDel{Name: n}).Apply(c); err != nil {
			return err
		}
	}
	return nil
}

// wait polls until the links are gone or Grace has passed and returns
// those left.
func (o *LinksGone) wait(c *Conn) ([]string, error) {
	h, err := c.Handle("")
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(o.Grace)
	for delay := time.Millisecond; ; delay = min(2*delay, 50*time.Millisecond) {
		links, err := retryDump(h.LinkList)
		if err != nil {
			return nil, opErr("", "listing links", err)
		}
		present := make(map[string]bool, len(links))
		for _, l := range links {
			present[l.Attrs().Name] = true
		}
		var left []string
		for _, n := range o.Names {
			if present[n] {
				left = append(left, n)
			}
		}
		if len(left) == 0 || time.Now().After(deadline) {
			return left, nil
		}
		time.Sleep(delay)
	}
}
