package kernel

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Observe reads the state of the machine. inspect chooses the namespaces
// whose mark is read (nil reads all); the others are only listed.
func Observe(c *Conn, inspect func(name string) bool) (*State, error) {
	st := &State{Namespaces: map[string]string{}, Links: map[string]*RootLink{}, Names: map[string]string{}, Stale: map[string]bool{}}
	if err := observeLinks(c, st); err != nil {
		return nil, err
	}
	names, err := listNetns()
	if err != nil {
		return nil, err
	}
	var todo []string
	for _, n := range names {
		st.Namespaces[n] = Unknown
		if inspect == nil || inspect(n) {
			todo = append(todo, n)
		}
	}
	marks := readMarks(todo)
	for i, n := range todo {
		st.Namespaces[n] = marks[i]
		if marks[i] == "" && StaleNetns(n) {
			st.Stale[n] = true
		}
	}
	return st, nil
}

func observeLinks(c *Conn, st *State) error {
	h, err := c.Handle("")
	if err != nil {
		return err
	}
	links, err := retryDump(func() ([]netlink.Link, error) { return c.LinkList("") })
	if err != nil {
		return fmt.Errorf("listing links: %w", err)
	}
	for _, l := range links {
		a := l.Attrs()
		rl := &RootLink{Name: a.Name, Alias: a.Alias, AltNames: a.AltNames, Type: l.Type(), Index: a.Index, Master: a.MasterIndex, Group: a.Group,
			Up: a.Flags&unix.IFF_UP != 0, MTU: a.MTU, MAC: a.HardwareAddr}
		st.Links[a.Name] = rl
		st.Names[a.Name] = a.Name
		for _, alt := range a.AltNames {
			st.Names[alt] = a.Name
		}
	}
	if err := observeAddrs(h, st); err != nil {
		return err
	}
	return observeRoutes(h, st)
}

// observeRoutes reads the routes of every table but the local one (of
// which only local routes that no address made), leaving out default
// routes and those the kernel makes for addresses.
func observeRoutes(h *netlink.Handle, st *State) error {
	routes, err := retryDump(func() ([]netlink.Route, error) {
		return h.RouteListFiltered(netlink.FAMILY_ALL, &netlink.Route{Table: unix.RT_TABLE_UNSPEC}, netlink.RT_FILTER_TABLE)
	})
	if err != nil {
		return fmt.Errorf("listing routes: %w", err)
	}
	byIndex := make(map[int]string, len(st.Links))
	for _, l := range st.Links {
		byIndex[l.Index] = l.Name
	}
	for _, r := range routes {
		// A local route that no address made (ip route add local
		// PREFIX dev lo: the host takes every address in PREFIX as its
		// own) counts, wherever it is; the local table's other routes are
		// the addresses'.
		local := r.Type == unix.RTN_LOCAL && r.Protocol != unix.RTPROT_KERNEL
		if r.Dst == nil || r.Protocol == unix.RTPROT_KERNEL || !local && (r.Table == unix.RT_TABLE_LOCAL ||
			r.Type != unix.RTN_UNICAST && r.Type != unix.RTN_BLACKHOLE && r.Type != unix.RTN_UNREACHABLE && r.Type != unix.RTN_PROHIBIT) {
			continue
		}
		ip, ok := netip.AddrFromSlice(r.Dst.IP)
		ones, _ := r.Dst.Mask.Size()
		if !ok || ones == 0 {
			continue
		}
		st.Routes = append(st.Routes, HostRoute{To: netip.PrefixFrom(ip.Unmap(), ones), Link: byIndex[r.LinkIndex], Table: r.Table})
	}
	return nil
}

// ObserveListeners adds to st the host's sockets on ports (see
// Listeners).
func ObserveListeners(st *State, ports []uint16) error {
	if len(ports) == 0 {
		return nil
	}
	ls, err := Listeners(ports)
	st.Listeners = ls
	return err
}

func observeAddrs(h *netlink.Handle, st *State) error {
	addrs, err := retryDump(func() ([]netlink.Addr, error) { return h.AddrList(nil, netlink.FAMILY_ALL) })
	if err != nil {
		return fmt.Errorf("listing addresses: %w", err)
	}
	byIndex := make(map[int]string, len(st.Links))
	for _, l := range st.Links {
		byIndex[l.Index] = l.Name
	}
	for _, a := range addrs {
		ip, ok := netip.AddrFromSlice(a.IP)
		if !ok || a.Scope != int(netlink.SCOPE_UNIVERSE) {
			continue
		}
		ones, _ := a.Mask.Size()
		st.Addrs = append(st.Addrs, HostAddr{Prefix: netip.PrefixFrom(ip.Unmap(), ones), Link: byIndex[a.LinkIndex]})
	}
	return nil
}

func listNetns() ([]string, error) {
	entries, err := os.ReadDir(NetnsDir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("listing %s: %w", NetnsDir, err)
	}
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names, nil
}

// readMarks reads the loopback alias of each namespace, a few at a time.
func readMarks(names []string) []string {
	marks := make([]string, len(names))
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for i, n := range names {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			marks[i] = NetnsMark(n)
		}()
	}
	wg.Wait()
	return marks
}

// StaleNetns reports whether a /run/netns entry is an empty regular file
// that is no mount point: no namespace, and nothing of anyone else's.
func StaleNetns(name string) bool {
	path := NetnsPath(name)
	fi, err := os.Lstat(path)
	if err != nil || !fi.Mode().IsRegular() || fi.Size() != 0 {
		return false
	}
	var fs unix.Statfs_t
	if unix.Statfs(path, &fs) != nil || fs.Type == unix.NSFS_MAGIC {
		return false
	}
	return !isMountPoint(path)
}

// isMountPoint reports whether something is mounted at path, by the
// mount table (a file bind-mounted from the same file system looks like
// any other file to stat). Unreadable counts as mounted.
func isMountPoint(path string) bool {
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return true
	}
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) > 4 && f[4] == path {
			return true
		}
	}
	return false
}

// NetnsMark returns the loopback alias of a named namespace, or "" when
// the entry is not a live namespace or cannot be read.
//
// It asks on one route socket made inside the namespace by a thread that
// enters it once. A netlink.Handle made for the namespace would open a
// socket of every netlink family (route, xfrm, netfilter), each entering
// the namespace and leaving it again: reading the marks of a 10,104-node
// lab's namespaces took most of down's first stage so.
func NetnsMark(name string) string {
	fd, err := unix.Open(NetnsPath(name), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return ""
	}
	defer unix.Close(fd)
	var fs unix.Statfs_t
	if unix.Fstatfs(fd, &fs) != nil || fs.Type != unix.NSFS_MAGIC {
		return ""
	}
	var mark string
	onThread(func() error { return unix.Setns(fd, unix.CLONE_NEWNET) }, func() error {
		h, err := netlink.NewHandleAt(netns.None(), unix.NETLINK_ROUTE)
		if err != nil {
			return err
		}
		defer h.Close()
		lo, err := h.LinkByName("lo")
		if err != nil {
			return err
		}
		mark = lo.Attrs().Alias
		return nil
	})
	return mark
}

// ReadLink reads a link of namespace ns ("" for the root namespace): nil
// and no error when there is none of that name.
//
// Equivalent to: ip [-n NS] addr show dev NAME
func ReadLink(c *Conn, ns, name string) (*LinkFacts, error) {
	h, l, err := findLink(c, ns, name)
	if err != nil || l == nil {
		return nil, err
	}
	a := l.Attrs()
	f := &LinkFacts{State: a.OperState.String(), MTU: a.MTU, MAC: a.HardwareAddr}
	if a.OperState == netlink.OperUnknown && l.Type() == "vxlan" && a.Flags&net.FlagUp != 0 {
		f.State = "up" // a VXLAN device has no carrier: up, it sends (see WaitUp)
	}
	if a.MasterIndex != 0 {
		if m, err := h.LinkByIndex(a.MasterIndex); err == nil {
			f.Master = m.Attrs().Name
		}
	}
	if b, ok := l.(*netlink.Bond); ok && b.ActiveSlave > 0 {
		if m, err := h.LinkByIndex(b.ActiveSlave); err == nil {
			f.Active = m.Attrs().Name
		}
	}
	list, err := h.AddrList(l, netlink.FAMILY_ALL)
	if err != nil {
		return f, opErr(ns, "listing the addresses of "+name, err)
	}
	for _, ad := range list {
		if p, ok := netip.AddrFromSlice(ad.IP); ok {
			ones, _ := ad.Mask.Size()
			f.Addrs = append(f.Addrs, netip.PrefixFrom(p.Unmap(), ones))
		}
	}
	return f, nil
}
