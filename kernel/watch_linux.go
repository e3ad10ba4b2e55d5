package kernel

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// Namespaces are seen from the root namespace by their netns ids (nsid):
// a socket there that listens with NETLINK_LISTEN_ALL_NSID hears the
// notifications of every namespace that has an id in the root one, each
// tagged with it, and a dump of links with IFLA_TARGET_NETNSID reads any
// of them. One or two sockets thus watch and count a lab of thousands of
// nodes, where a socket per namespace would take thousands of files.

// NsIDs maps namespaces under NetnsDir to their ids in the root namespace.
// It is safe for concurrent use.
type NsIDs struct {
	mu     sync.Mutex
	byID   map[int32]string
	byName map[string]int32
	failed map[string]bool // reported once, not tried again
}

// NewNsIDs returns an empty map; Refresh fills it.
func NewNsIDs() *NsIDs {
	return &NsIDs{byID: map[int32]string{}, byName: map[string]int32{}, failed: map[string]bool{}}
}

// Refresh learns the ids of the namespaces under NetnsDir that want
// accepts, giving an id to those without one (as ip netns set NAME auto
// does; a veth between the namespace and the root one gives it one too),
// and forgets the namespaces that are gone. A namespace whose id cannot
// be had (a stale entry, not a mount) is reported once and skipped; one
// that goes away meanwhile is skipped.
//
// Equivalent to: ip netns set NAME auto; ip netns list-id
func (m *NsIDs) Refresh(want func(name string) bool) error {
	names, err := listNetns()
	if err != nil {
		return err
	}
	seen := map[string]bool{}
	var errs []error
	for _, name := range names {
		if !want(name) {
			continue
		}
		seen[name] = true
		m.mu.Lock()
		_, known := m.byName[name]
		failed := m.failed[name]
		m.mu.Unlock()
		if known || failed {
			continue
		}
		id, err := nsidOf(NetnsPath(name))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			m.mu.Lock()
			m.failed[name] = true
			m.mu.Unlock()
			errs = append(errs, fmt.Errorf("namespace %s: %w", name, err))
			continue
		}
		m.mu.Lock()
		m.byName[name], m.byID[id] = id, name
		m.mu.Unlock()
	}
	m.mu.Lock()
	for name, id := range m.byName {
		if !seen[name] {
			delete(m.byName, name)
			delete(m.byID, id)
		}
	}
	for name := range m.failed {
		if !seen[name] {
			delete(m.failed, name)
		}
	}
	m.mu.Unlock()
	return errors.Join(errs...)
}

// nsidOf returns the namespace's id in the root namespace, giving it one
// if it has none.
func nsidOf(path string) (int32, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	fd := int(f.Fd())
	id, err := netlink.GetNetNsIdByFd(fd)
	if err != nil {
		return 0, fmt.Errorf("reading its netns id: %w", err)
	}
	if id >= 0 {
		return int32(id), nil
	}
	if err := netlink.SetNetNsIdByFd(fd, -1); err != nil && !errors.Is(err, unix.EEXIST) {
		return 0, fmt.Errorf("giving it a netns id: %w", err)
	}
	if id, err = netlink.GetNetNsIdByFd(fd); err != nil || id < 0 {
		return 0, fmt.Errorf("reading its netns id (%d): %v", id, err)
	}
	return int32(id), nil
}

// Name returns the namespace of an id.
func (m *NsIDs) Name(id int32) (string, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, ok := m.byID[id]
	return n, ok
}

// ID returns the id of a namespace.
func (m *NsIDs) ID(name string) (int32, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	id, ok := m.byName[name]
	return id, ok
}

// Counter reads links' states and counters of any namespace with an id
// in the root namespace, through one socket of its own there.
type Counter struct {
	mu      sync.Mutex
	fd      int
	seq     uint32
	buf     []byte
	bridges map[string]int32 // root namespace's bridges by name
}

// counterBuf is the receive buffer of a Counter: a link's message can be
// larger than 64 KiB (the netlink package's buffer, which it overruns).
const counterBuf = 1 << 20

// NewCounter opens the socket, in the calling thread's namespace (the
// root one).
func NewCounter() (*Counter, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("opening a netlink socket: %w", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("binding a netlink socket: %w", err)
	}
	return &Counter{fd: fd, buf: make([]byte, counterBuf)}, nil
}

// Close closes the socket.
func (c *Counter) Close() error { return unix.Close(c.fd) }

// Links reads the state and counters of every link of a namespace ("" the
// root one) by the namespace's id, so that no socket is opened in it.
// A dump interrupted by changes is read again, up to three times.
//
// Equivalent to: ip -n NAME -s link show
func (c *Counter) Links(ids *NsIDs, ns string) ([]LinkCounters, error) {
	return c.links(ids, ns, 0, "")
}

// Ports reads the state and counters of the ports of a bridge of the
// root namespace, by the bridge's name: the kernel picks them out, so a
// root namespace of 10,000 other links costs no more than the ports.
//
// Equivalent to: ip -s link show master BRIDGE
func (c *Counter) Ports(bridge string) ([]LinkCounters, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for again := false; ; again = true {
		index, ok := c.bridges[bridge]
		if !ok && !again {
			if err := c.learnBridges(); err != nil {
				return nil, err
			}
			continue
		}
		if !ok {
			return nil, nil // no such bridge
		}
		ports, err := c.retry(-1, index, "", "")
		if err != nil || len(ports) > 0 || again {
			return ports, err
		}
		// None: the bridge may have been made anew, with a new index.
		if err := c.learnBridges(); err != nil {
			return nil, err
		}
	}
}

// learnBridges reads the names and indexes of the root namespace's
// bridges, by a dump the kernel filters by kind: a request by name would
// wait for the kernel's rtnl lock, which a big lab being built or removed
// holds for seconds; a dump does not.
func (c *Counter) learnBridges() error {
	brs, err := c.retry(-1, 0, "", "bridge")
	if err != nil {
		return err
	}
	c.bridges = make(map[string]int32, len(brs))
	for _, b := range brs {
		c.bridges[b.Name] = b.Index
	}
	return nil
}

// Link reads one link of the root namespace by name; nil if there is
// none.
//
// Equivalent to: ip -s link show NAME
func (c *Counter) Link(name string) (*LinkCounters, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.link(name)
}

// link is Link with c.mu held.
func (c *Counter) link(name string) (*LinkCounters, error) {
	lc, err := c.request(-1, 0, name, "")
	if errors.Is(err, unix.ENODEV) {
		return nil, nil
	}
	if err != nil || len(lc) == 0 {
		return nil, err
	}
	return &lc[0], nil
}

func (c *Counter) links(ids *NsIDs, ns string, master int32, name string) ([]LinkCounters, error) {
	var id int32 = -1
	if ns != "" {
		var ok bool
		if id, ok = ids.ID(ns); !ok {
			return nil, fmt.Errorf("namespace %s has no netns id in the root namespace", ns)
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	out, err := c.retry(id, master, name, "")
	if err != nil {
		return nil, fmt.Errorf("%s: reading link counters: %w", nsLabel(ns), err)
	}
	return out, nil
}

// retry is request, again up to three times while the dump is
// interrupted by changes (links made or removed meanwhile, which a
// namespace shared with big labs being built sees all the time); the
// third interrupted dump is taken as it is: counters of the links it has
// are right, a link made or removed meanwhile may be missing. c.mu is
// held.
func (c *Counter) retry(id, master int32, name, kind string) ([]LinkCounters, error) {
	var out []LinkCounters
	var err error
	for range 3 {
		if out, err = c.request(id, master, name, kind); !errors.Is(err, netlink.ErrDumpInterrupted) {
			return out, err
		}
	}
	return out, nil
}

// request sends one RTM_GETLINK request and reads its answer, with c.mu
// held: a dump of the namespace of id (-1 the root one), of the ports of
// master if not 0, of the links of kind if not "", or the one link named
// name.
func (c *Counter) request(id, master int32, name, kind string) ([]LinkCounters, error) {
	flags := unix.NLM_F_DUMP
	if name != "" {
		flags = 0
	}
	req := nl.NewNetlinkRequest(unix.RTM_GETLINK, flags)
	req.AddData(nl.NewIfInfomsg(unix.AF_UNSPEC))
	if id >= 0 {
		req.AddData(nl.NewRtAttr(unix.IFLA_TARGET_NETNSID, nl.Uint32Attr(uint32(id))))
	}
	if master > 0 {
		req.AddData(nl.NewRtAttr(unix.IFLA_MASTER, nl.Uint32Attr(uint32(master))))
	}
	if name != "" {
		req.AddData(nl.NewRtAttr(unix.IFLA_IFNAME, nl.ZeroTerminated(name)))
	}
	if kind != "" {
		info := nl.NewRtAttr(unix.IFLA_LINKINFO, nil)
		info.AddRtAttr(nl.IFLA_INFO_KIND, nl.NonZeroTerminated(kind))
		req.AddData(info)
	}
	c.seq++
	req.Seq = c.seq
	if err := unix.Sendto(c.fd, req.Serialize(), 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return nil, err
	}
	var out []LinkCounters
	interrupted := false
	for {
		n, _, err := unix.Recvfrom(c.fd, c.buf, 0)
		if err != nil {
			return nil, err
		}
		msgs, err := syscall.ParseNetlinkMessage(c.buf[:n])
		if err != nil {
			return nil, err
		}
		for _, m := range msgs {
			if m.Header.Seq != c.seq {
				continue // the end of an earlier, abandoned dump
			}
			if m.Header.Flags&unix.NLM_F_DUMP_INTR != 0 {
				interrupted = true
			}
			switch m.Header.Type {
			case unix.NLMSG_DONE:
				if interrupted {
					return out, netlink.ErrDumpInterrupted
				}
				return out, nil
			case unix.NLMSG_ERROR:
				if len(m.Data) >= 4 {
					if e := int32(binary.NativeEndian.Uint32(m.Data)); e != 0 {
						return nil, syscall.Errno(-e)
					}
				}
				return out, nil
			case unix.RTM_NEWLINK:
				if lc, ok := parseCounters(m.Data); ok {
					out = append(out, lc)
				}
				if name != "" {
					return out, nil // the one link asked for
				}
			}
		}
	}
}

// parseCounters reads an RTM_NEWLINK message.
func parseCounters(m []byte) (LinkCounters, bool) {
	if len(m) < unix.SizeofIfInfomsg {
		return LinkCounters{}, false
	}
	info := nl.DeserializeIfInfomsg(m)
	attrs, err := nl.ParseRouteAttr(m[unix.SizeofIfInfomsg:])
	if err != nil {
		return LinkCounters{}, false
	}
	lc := LinkCounters{Index: info.Index, Up: info.Flags&unix.IFF_LOWER_UP != 0 && info.Flags&unix.IFF_UP != 0}
	for _, a := range attrs {
		switch a.Attr.Type {
		case unix.IFLA_IFNAME:
			lc.Name = strings.TrimRight(string(a.Value), "\x00")
		case unix.IFLA_IFALIAS:
			lc.Alias = strings.TrimRight(string(a.Value), "\x00")
		case unix.IFLA_OPERSTATE:
			if len(a.Value) > 0 {
				lc.Up = lc.Up && (a.Value[0] == netlink.OperUp || a.Value[0] == netlink.OperUnknown)
			}
		case unix.IFLA_STATS64:
			if len(a.Value) >= 64 {
				v := func(i int) uint64 { return binary.NativeEndian.Uint64(a.Value[i*8:]) }
				lc.RxPackets, lc.TxPackets, lc.RxBytes, lc.TxBytes = v(0), v(1), v(2), v(3)
				lc.RxDropped, lc.TxDropped = v(6), v(7)
			}
		}
	}
	return lc, lc.Name != ""
}

// Watcher hears the link, address and route notifications of the root
// namespace and of every namespace with an id in it, on one socket.
type Watcher struct {
	fd  int
	ids *NsIDs
	// want selects the namespaces whose ids are learnt (Refresh).
	want func(string) bool
	// last operational state and name of each link, by namespace and
	// index: a notification that changes neither is not an event.
	links map[linkKey]linkSeen
}

type linkKey struct {
	ns    string
	index int32
}

type linkSeen struct {
	name, alias string
	up          bool
}

// NewWatcher opens the socket, in the calling thread's namespace (the
// root one). Notifications come from the namespaces with an id: call
// ids.Refresh first; Run refreshes when one with an unknown id speaks.
func NewWatcher(ids *NsIDs, want func(string) bool) (*Watcher, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("opening a netlink socket: %w", err)
	}
	groups := uint32(unix.RTMGRP_LINK | unix.RTMGRP_IPV4_IFADDR | unix.RTMGRP_IPV6_IFADDR | unix.RTMGRP_IPV4_ROUTE | unix.RTMGRP_IPV6_ROUTE)
	fail := func(what string, err error) (*Watcher, error) {
		unix.Close(fd)
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_NETLINK, unix.NETLINK_LISTEN_ALL_NSID, 1); err != nil {
		return fail("listening to all namespaces (NETLINK_LISTEN_ALL_NSID)", err)
	}
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 8<<20)
	tv := unix.NsecToTimeval((200 * time.Millisecond).Nanoseconds())
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		return fail("setting a receive timeout", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK, Groups: groups}); err != nil {
		return fail("binding a netlink socket to link, address and route notifications", err)
	}
	return &Watcher{fd: fd, ids: ids, want: want, links: map[linkKey]linkSeen{}}, nil
}

// Close closes the socket.
func (w *Watcher) Close() error { return unix.Close(w.fd) }

// Learn records the links of a namespace as they are now (from
// Counters), so that their later notifications are named and only
// changes of state are events.
func (w *Watcher) Learn(ns string, links []LinkCounters) {
	for _, l := range links {
		w.links[linkKey{ns, l.Index}] = linkSeen{l.Name, l.Alias, l.Up}
	}
}

// Run calls fn with each event until ctx is done. Namespaces that appear
// later are learnt as their first notification arrives.
func (w *Watcher) Run(ctx context.Context, fn func(NetEvent)) error {
	buf := make([]byte, counterBuf) // a link's message can pass 64 KiB
	oob := make([]byte, unix.CmsgSpace(4)*4)
	for ctx.Err() == nil {
		n, oobn, _, _, err := unix.Recvmsg(w.fd, buf, oob, 0)
		if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
			continue
		}
		if errors.Is(err, unix.ENOBUFS) {
			continue // notifications lost under a flood: go on with the next
		}
		if err != nil {
			return fmt.Errorf("reading netlink notifications: %w", err)
		}
		ns, ok := w.namespace(oob[:oobn])
		if !ok {
			continue
		}
		msgs, err := syscall.ParseNetlinkMessage(buf[:n])
		if err != nil {
			continue
		}
		now := time.Now()
		for _, m := range msgs {
			if e, ok := w.event(ns, m); ok {
				e.Time = now
				fn(e)
			}
		}
	}
	return nil
}

// namespace is the namespace a message came from: its control message
// carries the id; none is the socket's own namespace.
func (w *Watcher) namespace(oob []byte) (string, bool) {
	cms, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return "", false
	}
	for _, cm := range cms {
		if cm.Header.Level != unix.SOL_NETLINK || cm.Header.Type != unix.NETLINK_LISTEN_ALL_NSID || len(cm.Data) < 4 {
			continue
		}
		id := int32(binary.NativeEndian.Uint32(cm.Data))
		if name, ok := w.ids.Name(id); ok {
			return name, true
		}
		_ = w.ids.Refresh(w.want)
		return w.ids.Name(id)
	}
	return "", true
}

// event turns a notification into an event, if it is one.
func (w *Watcher) event(ns string, m syscall.NetlinkMessage) (NetEvent, bool) {
	e := NetEvent{Netns: ns}
	switch m.Header.Type {
	case unix.RTM_NEWLINK, unix.RTM_DELLINK:
		lc, ok := parseCounters(m.Data)
		if !ok {
			return e, false
		}
		k := linkKey{ns, lc.Index}
		old, known := w.links[k]
		e.Link, e.Alias = lc.Name, lc.Alias
		if m.Header.Type == unix.RTM_DELLINK {
			delete(w.links, k)
			e.Kind = "link-removed"
			return e, true
		}
		w.links[k] = linkSeen{lc.Name, lc.Alias, lc.Up}
		switch {
		case !known:
			e.Kind = "link-added"
			if lc.Up {
				e.Detail = "up"
			}
		case old.up != lc.Up && lc.Up:
			e.Kind = "link-up"
		case old.up != lc.Up:
			e.Kind = "link-down"
		default:
			return e, false
		}
		return e, true
	case unix.RTM_NEWADDR, unix.RTM_DELADDR:
		return w.addrEvent(e, m)
	case unix.RTM_NEWROUTE, unix.RTM_DELROUTE:
		return w.routeEvent(e, m)
	}
	return e, false
}

// link names a link of a notification and gives its alias.
func (w *Watcher) link(e *NetEvent, index int32) {
	if l, ok := w.links[linkKey{e.Netns, index}]; ok {
		e.Link, e.Alias = l.name, l.alias
		return
	}
	e.Link = fmt.Sprintf("if%d", index)
}

func (w *Watcher) addrEvent(e NetEvent, m syscall.NetlinkMessage) (NetEvent, bool) {
	if len(m.Data) < unix.SizeofIfAddrmsg {
		return e, false
	}
	msg := nl.DeserializeIfAddrmsg(m.Data)
	attrs, err := nl.ParseRouteAttr(m.Data[unix.SizeofIfAddrmsg:])
	if err != nil {
		return e, false
	}
	var addr netip.Addr
	for _, a := range attrs {
		if a.Attr.Type == unix.IFA_LOCAL || (a.Attr.Type == unix.IFA_ADDRESS && !addr.IsValid()) {
			addr, _ = netip.AddrFromSlice(a.Value)
		}
	}
	if !addr.IsValid() || addr.IsLinkLocalUnicast() {
		return e, false // link-local addresses come and go with every link
	}
	w.link(&e, int32(msg.Index))
	e.Detail = netip.PrefixFrom(addr.Unmap(), int(msg.Prefixlen)).String()
	e.Kind = "addr-added"
	if m.Header.Type == unix.RTM_DELADDR {
		e.Kind = "addr-removed"
	}
	return e, true
}

func (w *Watcher) routeEvent(e NetEvent, m syscall.NetlinkMessage) (NetEvent, bool) {
	if len(m.Data) < unix.SizeofRtMsg {
		return e, false
	}
	msg := nl.DeserializeRtMsg(m.Data)
	if msg.Table != unix.RT_TABLE_MAIN || msg.Type != unix.RTN_UNICAST {
		return e, false // local, broadcast and multicast routes follow addresses
	}
	attrs, err := nl.ParseRouteAttr(m.Data[unix.SizeofRtMsg:])
	if err != nil {
		return e, false
	}
	var dst, via string
	var table uint32 = uint32(msg.Table)
	for _, a := range attrs {
		switch a.Attr.Type {
		case unix.RTA_DST:
			if ip, ok := netip.AddrFromSlice(a.Value); ok {
				dst = netip.PrefixFrom(ip.Unmap(), int(msg.Dst_len)).String()
			}
		case unix.RTA_GATEWAY:
			via = net.IP(a.Value).String()
		case unix.RTA_OIF:
			if len(a.Value) >= 4 {
				w.link(&e, int32(binary.NativeEndian.Uint32(a.Value)))
			}
		case unix.RTA_TABLE:
			if len(a.Value) >= 4 {
				table = binary.NativeEndian.Uint32(a.Value)
			}
		}
	}
	if table != unix.RT_TABLE_MAIN {
		return e, false
	}
	if dst == "" {
		dst = "default"
	}
	if strings.HasPrefix(dst, "fe80:") {
		return e, false
	}
	e.Detail = dst
	if via != "" {
		e.Detail += " via " + via
	}
	e.Kind = "route-added"
	if m.Header.Type == unix.RTM_DELROUTE {
		e.Kind = "route-removed"
	}
	return e, true
}

// Describe reads a namespace's interfaces with their addresses, and its
// routes of the main table as ip route words them.
//
// Equivalent to: ip -n NS addr; ip -n NS route; ip -n NS -6 route
func (c *Conn) Describe(ns string) (ifaces []IfaceView, routes []string, err error) {
	h, err := c.Handle(ns)
	if err != nil {
		return nil, nil, err
	}
	links, err := c.LinkList(ns)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: listing links: %w", nsLabel(ns), err)
	}
	names := map[int]string{}
	for _, l := range links {
		a := l.Attrs()
		names[a.Index] = a.Name
		v := IfaceView{Name: a.Name, Alias: a.Alias, State: a.OperState.String(), MTU: a.MTU, Addresses: []string{}}
		if len(a.HardwareAddr) > 0 {
			v.MAC = a.HardwareAddr.String()
		}
		addrs, err := h.AddrList(l, netlink.FAMILY_ALL)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: listing addresses of %s: %w", nsLabel(ns), a.Name, err)
		}
		for _, ad := range addrs {
			v.Addresses = append(v.Addresses, ad.IPNet.String())
		}
		ifaces = append(ifaces, v)
	}
	rs, err := h.RouteList(nil, netlink.FAMILY_ALL)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: listing routes: %w", nsLabel(ns), err)
	}
	for _, r := range rs {
		dst := "default"
		if r.Dst != nil {
			dst = r.Dst.String()
		}
		if strings.HasPrefix(dst, "fe80:") || strings.HasPrefix(dst, "ff00:") || r.Type != unix.RTN_UNICAST {
			continue
		}
		s := dst
		if r.Gw != nil {
			s += " via " + r.Gw.String()
		}
		if n, ok := names[r.LinkIndex]; ok {
			s += " dev " + n
		}
		routes = append(routes, s)
	}
	return ifaces, routes, nil
}
