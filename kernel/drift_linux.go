package kernel

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"sync"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// ObserveNodes reads the namespaces named in full, a few at a time, for a
// repair: mark, links, addresses, the routes of protocol RouteProto and
// the sysctls that keys names for each (of a namespace that bears the
// mark want gives it; nil reads them in all). A namespace that is gone has no
// entry. Each namespace is read through one netlink handle, closed after.
func ObserveNodes(c *Conn, names []string, keys func(ns string) []string) (map[string]*NodeState, error) {
	out := make([]*NodeState, len(names))
	errs := make([]error, len(names))
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for i, ns := range names {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			out[i], errs[i] = observeNode(c, ns, keys(ns))
			c.Forget(ns)
		}()
	}
	wg.Wait()
	m := make(map[string]*NodeState, len(names))
	for i, ns := range names {
		if out[i] != nil {
			m[ns] = out[i]
		}
	}
	return m, errors.Join(errs...)
}

func observeNode(c *Conn, ns string, keys []string) (*NodeState, error) {
	var fs unix.Statfs_t
	if unix.Statfs(NetnsPath(ns), &fs) != nil || fs.Type != unix.NSFS_MAGIC {
		return nil, nil // gone, or a stale entry (see StaleNetns)
	}
	h, err := c.Handle(ns)
	if err != nil {
		return nil, opErr(ns, "opening the namespace", err)
	}
	s := &NodeState{Links: map[string]*LinkState{}, Addrs: map[string][]netip.Prefix{}, Sysctls: map[string]string{}}
	links, err := retryDump(func() ([]netlink.Link, error) { return c.LinkList(ns) })
	if err != nil {
		return nil, opErr(ns, "listing links", err)
	}
	byIndex := map[int]string{}
	for _, l := range links {
		a := l.Attrs()
		byIndex[a.Index] = a.Name
		s.Links[a.Name] = &LinkState{Up: a.Flags&unix.IFF_UP != 0, MTU: a.MTU, MAC: a.HardwareAddr}
		if a.Index == loIndex {
			s.Mark = a.Alias
		}
	}
	addrs, err := retryDump(func() ([]netlink.Addr, error) { return h.AddrList(nil, netlink.FAMILY_ALL) })
	if err != nil {
		return nil, opErr(ns, "listing addresses", err)
	}
	for _, a := range addrs {
		if ip, ok := netip.AddrFromSlice(a.IP); ok {
			ones, _ := a.Mask.Size()
			name := byIndex[a.LinkIndex]
			s.Addrs[name] = append(s.Addrs[name], netip.PrefixFrom(ip.Unmap(), ones))
		}
	}
	filter := &netlink.Route{Protocol: RouteProto, Table: unix.RT_TABLE_UNSPEC}
	routes, err := retryDump(func() ([]netlink.Route, error) {
		return h.RouteListFiltered(netlink.FAMILY_ALL, filter, netlink.RT_FILTER_PROTOCOL|netlink.RT_FILTER_TABLE)
	})
	if err != nil {
		return nil, opErr(ns, "listing routes", err)
	}
	for _, r := range routes {
		s.Routes = append(s.Routes, observedRoute(r, byIndex))
	}
	if len(keys) > 0 {
		err := Do(NetnsPath(ns), func() error { return readSysctls(keys, s.Sysctls) })
		if err != nil {
			return nil, opErr(ns, "reading sysctls", err)
		}
	}
	return s, nil
}

func observedRoute(r netlink.Route, byIndex map[int]string) Route {
	out := Route{Dev: byIndex[r.LinkIndex], Metric: r.Priority}
	if r.Table != unix.RT_TABLE_MAIN {
		out.Table = r.Table
	}
	if r.Dst != nil {
		ip, _ := netip.AddrFromSlice(r.Dst.IP)
		ones, _ := r.Dst.Mask.Size()
		out.To = netip.PrefixFrom(ip.Unmap(), ones)
	} else if r.Family == unix.AF_INET6 {
		out.To = netip.MustParsePrefix("::/0")
	} else {
		out.To = netip.MustParsePrefix("0.0.0.0/0")
	}
	if ip, ok := netip.AddrFromSlice(r.Gw); ok {
		out.Via = ip.Unmap()
	}
	return out
}

// readSysctls reads settings in the namespace of the calling thread, in
// the same way as writeSysctls writes them.
func readSysctls(keys []string, into map[string]string) error {
	root, release := procSys.get()
	defer release()
	for _, k := range keys {
		v, err := readSysctl(root, Sysctl{Key: k})
		if err == nil {
			into[k] = v
		}
	}
	return nil
}

func readSysctl(root int, s Sysctl) (string, error) {
	var data []byte
	if root < 0 {
		b, err := os.ReadFile(s.path())
		if err != nil {
			return "", err
		}
		data = b
	} else {
		fd, err := unix.Openat(root, s.rel(), unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return "", &os.PathError{Op: "open", Path: s.path(), Err: err}
		}
		defer unix.Close(fd)
		buf := make([]byte, 256)
		n, err := unix.Read(fd, buf)
		if err != nil {
			return "", fmt.Errorf("reading %s: %w", s.path(), err)
		}
		data = buf[:n]
	}
	for len(data) > 0 && (data[len(data)-1] == '\n' || data[len(data)-1] == ' ') {
		data = data[:len(data)-1]
	}
	return string(data), nil
}

// ReadSysctls reads settings in the caller's namespace (the root
// namespace, for the lab's links there); a key that cannot be read is
// missing.
func ReadSysctls(keys []string) map[string]string {
	out := map[string]string{}
	readSysctls(keys, out)
	return out
}

// DefaultRouteLinks names the links of the calling namespace's IPv4
// default routes (main table, each hop of a multipath route): where what
// leaves the machine goes out, and where the answers come in.
//
// Equivalent to: ip -4 route show default
func DefaultRouteLinks() ([]string, error) {
	routes, err := netlink.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{Table: unix.RT_TABLE_MAIN}, netlink.RT_FILTER_TABLE)
	if err != nil {
		return nil, fmt.Errorf("listing the host's routes: %w", err)
	}
	seen := map[int]bool{}
	var out []string
	add := func(index int) {
		if index == 0 || seen[index] {
			return
		}
		seen[index] = true
		if l, err := netlink.LinkByIndex(index); err == nil {
			out = append(out, l.Attrs().Name)
		}
	}
	for _, r := range routes {
		if r.Dst != nil {
			if ones, _ := r.Dst.Mask.Size(); ones != 0 {
				continue
			}
		}
		add(r.LinkIndex)
		for _, hop := range r.MultiPath {
			add(hop.LinkIndex)
		}
	}
	return out, nil
}
