package nslab

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/nslab/nslab/kernel"
	"github.com/nslab/nslab/lab"
	"github.com/nslab/nslab/plan"
)

// A Node is one node of a running Lab: a network namespace (LAB.NODE
// under /run/netns) with its own hostname. Sockets made through it live
// in the node for good: a listener or connection it returns can be used,
// and closed, from any goroutine, as any other socket.
type Node struct {
	lab  *Lab
	name string
	err  error // set when the lab has no such node
}

// Name is the node's name in the topology.
func (n *Node) Name() string { return n.name }

// Netns is the node's network namespace name, as ip netns lists it.
func (n *Node) Netns() string { return plan.NetnsName(n.lab.name, n.name) }

// Do runs fn on an OS thread inside the node's network namespace, and
// returns fn's error. Sockets fn creates stay in the node. Goroutines fn
// starts run outside it, and so does name resolution that starts them:
// resolve with Lookup first, or use Dial and Listen, which do. The
// thread has the host's hostname and files (Command runs a process with
// the node's). fn must return: a t.Fatal (runtime.Goexit) inside it ends
// the thread, and Do never returns.
func (n *Node) Do(fn func() error) error {
	if err := n.usable(); err != nil {
		return err
	}
	return kernel.Do(kernel.NetnsPath(n.Netns()), fn)
}

// Dial connects to address on the named network ("tcp", "udp", "tcp4",
// "unix"... as net.Dial) from inside the node. A host name in address
// resolves as inside the node: see Lookup.
func (n *Node) Dial(network, address string) (net.Conn, error) {
	return n.DialContext(context.Background(), network, address)
}

// DialContext is Dial with a context, which bounds the connection's
// setting up, not its use. It fits net/http.Transport's DialContext, so
// an HTTP client can talk from the node.
func (n *Node) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	var d net.Dialer
	return n.dial(ctx, &d, network, address)
}

// Dialer returns a function with the signature of net.Dialer's
// DialContext that dials from the node with d's settings (timeouts,
// keep-alive, local address).
func (n *Node) Dialer(d *net.Dialer) func(ctx context.Context, network, address string) (net.Conn, error) {
	return func(ctx context.Context, network, address string) (net.Conn, error) {
		return n.dial(ctx, d, network, address)
	}
}

func (n *Node) dial(ctx context.Context, d *net.Dialer, network, address string) (net.Conn, error) {
	addrs, err := n.resolve(network, address)
	if err != nil {
		return nil, err
	}
	var errs []error
	for _, a := range addrs {
		var c net.Conn
		err := n.Do(func() (err error) {
			c, err = d.DialContext(ctx, network, a)
			return err
		})
		if err == nil {
			return c, nil
		}
		errs = append(errs, err)
		if ctx.Err() != nil {
			break
		}
	}
	return nil, fmt.Errorf("node %s: %w", n.Netns(), errors.Join(errs...))
}

// Listen announces on the local address inside the node, as net.Listen
// does ("tcp", ":8080" listens on every address of the node).
func (n *Node) Listen(network, address string) (net.Listener, error) {
	addrs, err := n.resolve(network, address)
	if err != nil {
		return nil, err
	}
	var ln net.Listener
	err = n.Do(func() (err error) {
		ln, err = net.Listen(network, addrs[0])
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("node %s: %w", n.Netns(), err)
	}
	return ln, nil
}

// ListenPacket announces on the local address inside the node, as
// net.ListenPacket does ("udp", ":5353").
func (n *Node) ListenPacket(network, address string) (net.PacketConn, error) {
	addrs, err := n.resolve(network, address)
	if err != nil {
		return nil, err
	}
	var pc net.PacketConn
	err = n.Do(func() (err error) {
		pc, err = net.ListenPacket(network, addrs[0])
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("node %s: %w", n.Netns(), err)
	}
	return pc, nil
}

// resolve turns address into the HOST:PORT addresses to try, with HOST
// an IP. Unix and ip networks are left as they are.
func (n *Node) resolve(network, address string) ([]string, error) {
	if err := n.usable(); err != nil {
		return nil, err
	}
	if !strings.HasPrefix(network, "tcp") && !strings.HasPrefix(network, "udp") {
		return []string{address}, nil
	}
	host, port, err := net.SplitHostPort(address)
	if err != nil {
		return nil, fmt.Errorf("node %s: %w", n.Netns(), err)
	}
	if host == "" {
		return []string{address}, nil
	}
	if _, err := netip.ParseAddr(strings.Split(host, "%")[0]); err == nil {
		return []string{address}, nil
	}
	ips, err := n.Lookup(host)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, ip := range ips {
		if network == "tcp4" || network == "udp4" {
			if !ip.Is4() {
				continue
			}
		} else if (network == "tcp6" || network == "udp6") && !ip.Is6() {
			continue
		}
		out = append(out, net.JoinHostPort(ip.String(), port))
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("node %s: %s has no address for %s", n.Netns(), host, network)
	}
	return out, nil
}

// Lookup returns the addresses of host as a program in the node finds
// them: from the node's hosts file (/etc/netns/LAB.NODE/hosts when there
// is one, else the lab's, see HostsFile), which names every node of the
// lab (NODE, NODE.LAB, its hostname, IF.NODE), IPv4 first. The machine's
// resolver is never asked: a name that file does not have is an error.
func (n *Node) Lookup(host string) ([]netip.Addr, error) {
	if err := n.usable(); err != nil {
		return nil, err
	}
	file := filepath.Join(kernel.EtcNetnsDir, n.Netns(), "hosts")
	if _, err := os.Stat(file); err != nil {
		file = lab.HostsFile(n.lab.name)
	}
	addrs, err := lookupHosts(file, host)
	if err != nil {
		return nil, fmt.Errorf("node %s: looking up %s: %w", n.Netns(), host, err)
	}
	if len(addrs) == 0 {
		return nil, fmt.Errorf("node %s: no host %q in %s (the lab's names are NODE, NODE.%s and IF.NODE; the machine's resolver is not asked)", n.Netns(), host, file, n.lab.name)
	}
	return addrs, nil
}

// lookupHosts reads the addresses of host in a hosts(5) file, IPv4 ones
// first, each in the file's order. The file is read again when its
// inode, modification time or size changed (up rewrites the lab's).
func lookupHosts(file, host string) ([]netip.Addr, error) {
	names, err := readHosts(file)
	if err != nil {
		return nil, err
	}
	var v4, v6 []netip.Addr
	for _, a := range names[strings.ToLower(host)] {
		if a.Is4() {
			v4 = append(v4, a)
		} else {
			v6 = append(v6, a)
		}
	}
	return append(v4, v6...), nil
}

// hostsCache keeps the hosts files read, by path.
var hostsCache struct {
	sync.Mutex
	files map[string]hostsFile
}

type hostsFile struct {
	mtime time.Time
	size  int64
	ino   uint64
	names map[string][]netip.Addr // lower-case name → addresses in file order
}

func readHosts(file string) (map[string][]netip.Addr, error) {
	fi, err := os.Stat(file)
	if err != nil {
		return nil, err
	}
	hostsCache.Lock()
	defer hostsCache.Unlock()
	var ino uint64
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		ino = st.Ino
	}
	if h, ok := hostsCache.files[file]; ok && h.mtime.Equal(fi.ModTime()) && h.size == fi.Size() && h.ino == ino {
		return h.names, nil
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	names := map[string][]netip.Addr{}
	s := bufio.NewScanner(bytes.NewReader(data))
	for s.Scan() {
		line, _, _ := strings.Cut(s.Text(), "#")
		fields := strings.Fields(line)
		if len(fields) < 2 {
			continue
		}
		a, err := netip.ParseAddr(fields[0])
		if err != nil {
			continue
		}
		for _, name := range fields[1:] {
			name = strings.ToLower(name)
			if !slices.Contains(names[name], a) {
				names[name] = append(names[name], a)
			}
		}
	}
	if hostsCache.files == nil {
		hostsCache.files = map[string]hostsFile{}
	}
	hostsCache.files[file] = hostsFile{fi.ModTime(), fi.Size(), ino, names}
	return names, s.Err()
}

func (n *Node) usable() error {
	if n.err != nil {
		return n.err
	}
	return n.lab.open()
}
