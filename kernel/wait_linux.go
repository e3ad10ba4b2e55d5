package kernel

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// WaitUp waits until the named links of a namespace are operationally up.
// The kernel brings a link's carrier, operational state and queueing
// discipline up asynchronously (the linkwatch worker, which runs up to a
// second late when many links change at once); until then the link drops
// what it sends. Waiting makes a lab usable the moment up returns.
func (c *Conn) WaitUp(ctx context.Context, ns string, names []string) error {
	if ns == "" {
		return waitSysfs(ctx, names, "operstate", "up")
	}
	h, err := c.Handle(ns)
	if err != nil {
		return err
	}
	pending := make(map[string]string, len(names))
	for _, n := range names {
		pending[n] = "missing"
	}
	for delay := 200 * time.Microsecond; ; delay = min(2*delay, 20*time.Millisecond) {
		links, err := h.LinkList()
		if err != nil && !errors.Is(err, netlink.ErrDumpInterrupted) {
			return opErr(ns, "listing links", err)
		}
		for _, l := range links { // an interrupted dump is partial: poll again
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

// WaitCarrier waits until bridges of the root namespace have carrier. A
// bridge activates its queueing discipline when it is brought up, so it
// forwards as soon as a port gives it carrier; its operational state
// follows up to a second later, when the kernel's linkwatch gets to it.
func WaitCarrier(ctx context.Context, names []string) error {
	return waitSysfs(ctx, names, "carrier", "1")
}

// waitSysfs polls /sys/class/net/NAME/ATTR of root-namespace links until
// each reads want. A netlink dump of the root namespace costs, for every
// veth whose peer is in a node, a walk over all the namespace ids the root
// knows: quadratic in the lab's size, where sysfs is linear.
func waitSysfs(ctx context.Context, names []string, attr, want string) error {
	pending := make(map[string]string, len(names))
	for _, n := range names {
		pending[n] = "missing"
	}
	for delay := 200 * time.Microsecond; ; delay = min(2*delay, 20*time.Millisecond) {
		for n := range pending {
			b, err := os.ReadFile("/sys/class/net/" + n + "/" + attr)
			switch state := strings.TrimSpace(string(b)); {
			case err != nil:
				pending[n] = "missing"
			case state == want:
				delete(pending, n)
			default:
				pending[n] = attr + " " + state
			}
		}
		if len(pending) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return opErr("", "waiting for links to come up", fmt.Errorf("%w: %s", ctx.Err(), describePending(pending)))
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
	if len(out) > 10 {
		out = append(out[:10], fmt.Sprintf("and %d more", len(out)-10))
	}
	return strings.Join(out, ", ")
}

// LinkGroupDel deletes every link of a link group in one request: the
// kernel removes them (and the peers of veth pairs) in one batch, far
// faster than one deletion per link. The plan uses it only for a group
// whose every link carries the lab's mark; Names lists them.
//
// Equivalent to: ip link delete group GROUP
type LinkGroupDel struct {
	Group uint32
	Names []string
}

func (o *LinkGroupDel) Namespace() string { return "" }

func (o *LinkGroupDel) String() string {
	return fmt.Sprintf("ip link delete group %d   # the lab's %d links", o.Group, len(o.Names))
}

func (o *LinkGroupDel) Apply(c *Conn) error {
	err := c.exec("", groupDelMsg(o.Group))
	if errors.Is(err, unix.ENODEV) {
		return nil // all gone already
	}
	for _, n := range o.Names {
		c.indexes.Delete("\x00" + n)
	}
	return opErr("", fmt.Sprintf("deleting link group %d", o.Group), err)
}
