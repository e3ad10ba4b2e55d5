package kernel

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"sort"
	"strings"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// WaitUp waits until the named links of a namespace are operationally up.
// The kernel brings a link's carrier, operational state and queueing
// discipline up asynchronously (the linkwatch worker, which runs up to a
// second late when many links change at once); until then the link drops
// what it sends. Waiting makes a lab usable the moment up returns.
func (c *Conn) WaitUp(ctx context.Context, ns string, names []string) error {
	return c.WaitUpReport(ctx, ns, names, nil)
}

// WaitUpReport is WaitUp, calling up (when not nil) with the number of
// links seen up since its last call, as they come up.
func (c *Conn) WaitUpReport(ctx context.Context, ns string, names []string, up func(n int)) error {
	if ns == "" {
		return c.waitRoot(ctx, names, up, func(s linkState) (bool, string) {
			return s.oper == netlink.OperUp, "operstate " + s.oper.String()
		})
	}
	pending := make(map[string]string, len(names))
	for _, n := range names {
		pending[n] = "missing"
	}
	for delay := 200 * time.Microsecond; ; delay = min(2*delay, 20*time.Millisecond) {
		links, err := c.LinkList(ns)
		if err != nil && !errors.Is(err, netlink.ErrDumpInterrupted) {
			return opErr(ns, "listing links", err)
		}
		before := len(pending)
		for _, l := range links { // an interrupted dump is partial: poll again
			a := l.Attrs()
			if _, ok := pending[a.Name]; !ok {
				continue
			}
			if a.OperState == netlink.OperUp || a.OperState == netlink.OperUnknown && l.Type() == "vxlan" && a.Flags&net.FlagUp != 0 {
				// A VXLAN device has no carrier of its own: up, its
				// operational state stays unknown, and it sends at once.
				delete(pending, a.Name)
			} else {
				pending[a.Name] = a.OperState.String()
			}
		}
		if up != nil && len(pending) < before {
			up(before - len(pending))
		}
		if len(pending) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return opErr(ns, "waiting for links to come up", fmt.Errorf("%w: %s", context.Cause(ctx), describePending(pending)))
		case <-time.After(delay):
		}
	}
}

// WaitCarrier waits until bridges of the root namespace have carrier. A
// bridge activates its queueing discipline when it is brought up, so it
// forwards as soon as a port gives it carrier; its operational state
// follows up to a second later, when the kernel's linkwatch gets to it.
func (c *Conn) WaitCarrier(ctx context.Context, names []string) error {
	return c.WaitCarrierReport(ctx, names, nil)
}

// WaitCarrierReport is WaitCarrier, calling up as WaitUpReport does.
func (c *Conn) WaitCarrierReport(ctx context.Context, names []string, up func(n int)) error {
	return c.waitRoot(ctx, names, up, func(s linkState) (bool, string) {
		return s.carrier, "without carrier"
	})
}

// waitRoot polls root-namespace links, one request per link, until ok
// holds for each. Not a dump, and not /sys/class/net: a netlink dump of
// the root namespace costs, for every veth whose peer is in a node, a
// walk over all the namespace ids the root knows (quadratic in the lab's
// size), and /sys shows the network namespace that mounted it, which is
// not nslab's when nslab runs under unshare -n or nsenter --net.
func (c *Conn) waitRoot(ctx context.Context, names []string, up func(int), ok func(linkState) (bool, string)) error {
	pending := make(map[string]string, len(names))
	for _, n := range names {
		pending[n] = "missing"
	}
	for delay := 200 * time.Microsecond; ; delay = min(2*delay, 20*time.Millisecond) {
		before := len(pending)
		for n := range pending {
			st, err := c.rootLinkState(n)
			switch {
			case errors.Is(err, unix.ENODEV):
				pending[n] = "missing"
			case err != nil:
				return opErr("", "waiting for links to come up", fmt.Errorf("reading the state of %s: %w", n, err))
			default:
				if up, why := ok(st); up {
					delete(pending, n)
				} else {
					pending[n] = why
				}
			}
		}
		if up != nil && len(pending) < before {
			up(before - len(pending))
		}
		if len(pending) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return opErr("", "waiting for links to come up", fmt.Errorf("%w: %s", context.Cause(ctx), describePending(pending)))
		case <-time.After(delay):
		}
	}
}

// linkState is what waitRoot reads of a link.
type linkState struct {
	oper    netlink.LinkOperState
	carrier bool
}

// rootLinkState asks the kernel for one link of the root namespace: by
// name the first time, then by the index it answered with.
func (c *Conn) rootLinkState(name string) (linkState, error) {
	index, _ := c.indexes.load("", name)
	req, _ := linkMsg(unix.RTM_GETLINK, 0, index, "")
	if index == 0 {
		req.AddData(nl.NewRtAttr(unix.IFLA_IFNAME, nl.ZeroTerminated(name)))
	}
	s, err := c.sock("")
	if err != nil {
		return linkState{}, err
	}
	req.Sockets = map[int]*nl.SocketHandle{unix.NETLINK_ROUTE: s.raw}
	msgs, err := req.Execute(unix.NETLINK_ROUTE, unix.RTM_NEWLINK)
	if errors.Is(err, unix.ENODEV) && index != 0 {
		c.indexes.delete("", name) // gone, or made anew under another index
	}
	if err != nil {
		return linkState{}, err
	}
	if len(msgs) != 1 || len(msgs[0]) < unix.SizeofIfInfomsg {
		return linkState{}, fmt.Errorf("the kernel answered %d messages", len(msgs))
	}
	m := msgs[0]
	attrs, err := nl.ParseRouteAttr(m[unix.SizeofIfInfomsg:])
	if err != nil {
		return linkState{}, err
	}
	var st linkState
	for _, a := range attrs {
		switch {
		case a.Attr.Type == unix.IFLA_OPERSTATE && len(a.Value) > 0:
			st.oper = netlink.LinkOperState(a.Value[0])
		case a.Attr.Type == unix.IFLA_CARRIER && len(a.Value) > 0:
			st.carrier = a.Value[0] == 1
		case a.Attr.Type == unix.IFLA_IFNAME && index == 0:
			if string(bytes.TrimRight(a.Value, "\x00")) == name {
				c.indexes.store("", name, nl.DeserializeIfInfomsg(m).Index)
			}
		}
	}
	return st, nil
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

func (o *LinkGroupDel) Apply(c *Conn) error {
	err := c.exec("", groupDelMsg(o.Group))
	if errors.Is(err, unix.ENODEV) {
		return nil // all gone already
	}
	for _, n := range o.Names {
		c.indexes.delete("", n)
	}
	return opErr("", fmt.Sprintf("deleting link group %d", o.Group), err)
}
