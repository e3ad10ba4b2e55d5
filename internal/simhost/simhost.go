// Package simhost simulates machines on one Linux kernel, for the tests
// and the benchmark of labs that span hosts: each simulated host is a
// network namespace with a mount namespace of its own (its own /run, so
// its own /run/netns, /run/nslab and locks; a sysfs of its own network
// namespace on /sys; an empty /var/lib of its own, where nslab up copies
// nslab, gone with the host; an empty home for root, so that sessions do
// not run the machine's root's shell start-up files, nor leave their
// locks behind when a host is killed), running Debian's OpenSSH sshd on an underlay bridge
// of the root namespace. The caller reaches the hosts with the system's
// ssh client through the ssh_config the cluster writes (ssh -F CONFIG
// NAME), as a user reaches real machines.
//
// The hosts share the kernel, the file system outside /run, /var/lib and
// /root, and the clock; they do not share namespaces' names, locks or state. Nothing in a
// host has a route off the underlay: a host reaches the others and the
// underlay bridge's address in the root namespace, nothing else.
//
// Equivalent, for one host, to:
//
//	ip link add ul br type bridge; ip addr add 10.200.7.1/24 dev ul-br; ip link set ul-br up
//	unshare --net --mount --propagation private sh -c '
//	  mount -t tmpfs tmpfs /run; mount -t sysfs sysfs /sys; mount -t tmpfs tmpfs /var/lib
//	  mount -t tmpfs tmpfs /root; mkdir /run/sshd
//	  ip link set lo up; read go      # the veth's far end is put in meanwhile
//	  ip addr add 10.200.7.2/24 dev eth0; ip link set eth0 up
//	  exec /usr/sbin/sshd -D -e -f DIR/h1/sshd_config'
//	ip link add ul-h1 master ul-br up type veth peer name eth0 netns $SH_PID
//
// This package runs ip, ssh-keygen and sshd: it is test equipment, not
// part of nslab.
package simhost

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/nslab/nslab/internal/child"
)

// Sshd is the OpenSSH server the hosts run (Debian's openssh-server).
const Sshd = "/usr/sbin/sshd"

// Host is one simulated machine.
type Host struct {
	Name string     // its name in the cluster's ssh_config
	Addr netip.Addr // its underlay address
	Pid  int        // sshd's process, which holds the host's namespaces
	Link string     // the root-namespace end of its underlay cable

	cmd            *exec.Cmd
	logs           *logBuffer
	netIno, mntIno uint64 // its namespaces, while it runs
}

// NetNS is the path of the host's network namespace.
func (h *Host) NetNS() string { return fmt.Sprintf("/proc/%d/ns/net", h.Pid) }

// MntNS is the path of the host's mount namespace.
func (h *Host) MntNS() string { return fmt.Sprintf("/proc/%d/ns/mnt", h.Pid) }

// Cluster is a set of simulated hosts on one underlay bridge.
type Cluster struct {
	Dir    string     // keys, configs and known hosts
	Config string     // ssh_config naming every host: ssh -F Config NAME
	Bridge string     // the underlay bridge in the root namespace
	Addr   netip.Addr // the bridge's address: the root namespace on the underlay
	Hosts  []*Host

	prefix    string
	removeDir bool
}

// Options shape a cluster.
type Options struct {
	// Prefix names the root-namespace links (bridge PREFIX-br, cables
	// PREFIX-NAME); at most 7 bytes so that names fit in 15.
	Prefix string
	// Subnet is the underlay's IPv4 /24: the bridge takes .1, the hosts
	// .2, .3, ... in order.
	Subnet netip.Prefix
	// RemoveDir: Close removes dir too (and so does the next Start, when
	// the process that started the cluster died without Close). dir's
	// name must then start with "simhosts-".
	RemoveDir bool
	// Logf, when set, hears of the clusters of dead processes that Start
	// removes.
	Logf func(format string, args ...any)
}

// Available says why a cluster cannot start here, or nil.
func Available() error {
	if os.Geteuid() != 0 {
		return errors.New("simulated hosts need root (namespaces, a bridge, sshd)")
	}
	for _, p := range []string{Sshd, "ssh", "ssh-keygen", "unshare", "nsenter", "ip"} {
		if _, err := exec.LookPath(p); err != nil {
			return fmt.Errorf("simulated hosts need %s (Debian: openssh-server, openssh-client, util-linux, iproute2): %v", p, err)
		}
	}
	return nil
}

// Start makes the underlay bridge and one host per name, each with sshd
// answering on its underlay address for root with the cluster's key. On
// failure everything made so far is removed.
func Start(ctx context.Context, dir string, names []string, opt Options) (c *Cluster, err error) {
	if err := Available(); err != nil {
		return nil, err
	}
	if len(opt.Prefix) == 0 || len(opt.Prefix) > 7 {
		return nil, fmt.Errorf("simhost: prefix %q must be 1-7 bytes", opt.Prefix)
	}
	if !opt.Subnet.Addr().Is4() || opt.Subnet.Bits() != 24 {
		return nil, fmt.Errorf("simhost: subnet %s must be an IPv4 /24", opt.Subnet)
	}
	if len(names) == 0 || len(names) > 250 {
		return nil, fmt.Errorf("simhost: %d hosts (1-250)", len(names))
	}
	for _, n := range names {
		if n == "" || len(opt.Prefix)+1+len(n) > 15 || strings.ContainsAny(n, " /\t\n") {
			return nil, fmt.Errorf("simhost: host name %q must be short (prefix, dash and name within 15 bytes) and plain", n)
		}
	}
	if opt.RemoveDir && !strings.HasPrefix(filepath.Base(dir), "simhosts-") {
		return nil, fmt.Errorf("simhost: RemoveDir takes a directory named simhosts-*, not %s", dir)
	}
	reaped, rerr := ReapDead()
	if opt.Logf != nil {
		for _, r := range reaped {
			opt.Logf("removed %s", r)
		}
		if rerr != nil {
			opt.Logf("%v", rerr)
		}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	base := opt.Subnet.Masked().Addr().As4()
	at := func(i int) netip.Addr { b := base; b[3] = byte(i); return netip.AddrFrom4(b) }
	c = &Cluster{Dir: dir, Config: filepath.Join(dir, "ssh_config"), Bridge: opt.Prefix + "-br", Addr: at(1),
		prefix: opt.Prefix, removeDir: opt.RemoveDir}
	if err := claim(c.prefix, c.Bridge); err != nil {
		return nil, err
	}
	if err := c.writeRecord(); err != nil {
		return nil, fmt.Errorf("simhost: recording the cluster in %s: %w", RecordDir, err)
	}
	defer func() {
		if err != nil {
			c.Close()
		}
	}()
	if err := keygen(filepath.Join(dir, "id_ed25519")); err != nil {
		return c, err
	}
	if err := copyFile(filepath.Join(dir, "id_ed25519.pub"), filepath.Join(dir, "authorized_keys")); err != nil {
		return c, err
	}
	if err := ip("link", "add", c.Bridge, "type", "bridge"); err != nil {
		return c, err
	}
	if err := ip("addr", "add", prefixOf(c.Addr), "dev", c.Bridge); err != nil {
		return c, err
	}
	if err := ip("link", "set", c.Bridge, "up"); err != nil {
		return c, err
	}
	var cfg, known strings.Builder
	for i, name := range names {
		h := &Host{Name: name, Addr: at(i + 2), Link: opt.Prefix + "-" + name}
		c.Hosts = append(c.Hosts, h)
		err := c.start(ctx, h)
		if werr := c.writeRecord(); err == nil && werr != nil {
			err = fmt.Errorf("recording it in %s: %w", RecordDir, werr)
		}
		if err != nil {
			return c, fmt.Errorf("simulated host %s: %w", name, err)
		}
		pub, err := os.ReadFile(filepath.Join(dir, name, "host_ed25519.pub"))
		if err != nil {
			return c, err
		}
		fields := strings.Fields(string(pub))
		if len(fields) < 2 {
			return c, fmt.Errorf("simulated host %s: host key %q unreadable", name, pub)
		}
		fmt.Fprintf(&known, "%s %s %s\n", h.Addr, fields[0], fields[1])
		fmt.Fprintf(&cfg, "Host %s\n  HostName %s\n  User root\n  IdentityFile %s\n  IdentitiesOnly yes\n"+
			"  UserKnownHostsFile %s\n  StrictHostKeyChecking yes\n  BatchMode yes\n  LogLevel ERROR\n"+
			"  ConnectTimeout 10\n  KexAlgorithms curve25519-sha256\n\n",
			name, h.Addr, filepath.Join(dir, "id_ed25519"), filepath.Join(dir, "known_hosts"))
	}
	if err := os.WriteFile(filepath.Join(dir, "known_hosts"), []byte(known.String()), 0o600); err != nil {
		return c, err
	}
	if err := os.WriteFile(c.Config, []byte(cfg.String()), 0o600); err != nil {
		return c, err
	}
	if err := c.pinNeighbours(); err != nil {
		return c, err
	}
	for _, h := range c.Hosts {
		if err := c.await(ctx, h); err != nil {
			return c, err
		}
	}
	return c, nil
}

// pinNeighbours gives every end of the underlay permanent neighbour
// entries for the others: the kernel's neighbour table is shared by every
// namespace of the machine (gc_thresh3), and the labs of other tests may
// fill it, so that a host could not resolve another host's address.
func (c *Cluster) pinNeighbours() error {
	macs := map[netip.Addr]string{}
	out, err := exec.Command("ip", "-o", "link", "show", "dev", c.Bridge).Output()
	if err != nil {
		return fmt.Errorf("reading the underlay bridge's address: %v", err)
	}
	macs[c.Addr] = macOf(string(out))
	for _, h := range c.Hosts {
		out, err := exec.Command("nsenter", "--net="+h.NetNS(), "ip", "-o", "link", "show", "dev", "eth0").Output()
		if err != nil {
			return fmt.Errorf("simulated host %s: reading its eth0: %v", h.Name, err)
		}
		macs[h.Addr] = macOf(string(out))
	}
	for a, mac := range macs {
		if mac == "" {
			return fmt.Errorf("no link address found for %s", a)
		}
		for _, h := range c.Hosts {
			if h.Addr == a {
				continue
			}
			if out, err := exec.Command("nsenter", "--net="+h.NetNS(), "ip", "neigh", "replace", a.String(), "lladdr", mac, "dev", "eth0", "nud", "permanent").CombinedOutput(); err != nil {
				return fmt.Errorf("simulated host %s: pinning %s: %v: %s", h.Name, a, err, out)
			}
		}
		if a != c.Addr {
			if err := ip("neigh", "replace", a.String(), "lladdr", mac, "dev", c.Bridge, "nud", "permanent"); err != nil {
				return err
			}
		}
	}
	return nil
}

// macOf is the link address in a line of ip -o link show.
func macOf(line string) string {
	f := strings.Fields(line)
	for i, w := range f {
		if w == "link/ether" && i+1 < len(f) {
			return f[i+1]
		}
	}
	return ""
}

// start runs the host's namespace holder, wires its underlay cable and
// lets it exec sshd.
func (c *Cluster) start(ctx context.Context, h *Host) error {
	hd := filepath.Join(c.Dir, h.Name)
	if err := os.MkdirAll(hd, 0o700); err != nil {
		return err
	}
	if err := keygen(filepath.Join(hd, "host_ed25519")); err != nil {
		return err
	}
	conf := fmt.Sprintf("Port 22\nListenAddress %s\nHostKey %s\nPidFile none\nPermitRootLogin prohibit-password\n"+
		"AuthorizedKeysFile %s\nStrictModes no\nUsePAM no\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n"+
		"PrintMotd no\nPrintLastLog no\nMaxSessions 64\nMaxStartups 64\nSubsystem sftp internal-sftp\nLogLevel INFO\n",
		h.Addr, filepath.Join(hd, "host_ed25519"), filepath.Join(c.Dir, "authorized_keys"))
	sc := filepath.Join(hd, "sshd_config")
	if err := os.WriteFile(sc, []byte(conf), 0o600); err != nil {
		return err
	}
	script := `set -e
mount -t tmpfs -o mode=0755 tmpfs /run
mount -t sysfs sysfs /sys
mount -t tmpfs -o mode=0755 tmpfs /var/lib
mount -t tmpfs -o mode=0700 tmpfs /root
mkdir -p /run/sshd
chmod 0755 /run/sshd
ip link set lo up
echo ready
read go
ip addr add "$1" dev eth0
ip link set eth0 up
exec ` + Sshd + ` -D -e -f "$2"`
	cmd := exec.Command("unshare", "--net", "--mount", "--propagation", "private", "--",
		"/bin/sh", "-c", script, "sh", prefixOf(h.Addr), sc)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	in, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	h.logs = new(logBuffer)
	cmd.Stderr = h.logs
	// sshd dies with the caller (not the sessions it started: the next
	// Start ends them, ReapDead).
	if err := child.Start(cmd); err != nil {
		return err
	}
	h.cmd, h.Pid = cmd, cmd.Process.Pid
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || strings.TrimSpace(line) != "ready" {
		return fmt.Errorf("its namespaces did not come up (%q, %v): %s", line, err, h.logs)
	}
	if h.netIno, err = nsInode(h.NetNS()); err != nil {
		return err
	}
	if h.mntIno, err = nsInode(h.MntNS()); err != nil {
		return err
	}
	go io.Copy(io.Discard, out)
	if err := ip("link", "add", h.Link, "type", "veth", "peer", "name", "eth0", "netns", strconv.Itoa(h.Pid)); err != nil {
		return err
	}
	if err := ip("link", "set", h.Link, "master", c.Bridge, "up"); err != nil {
		return err
	}
	_, err = io.WriteString(in, "go\n")
	return err
}

// await waits until the host's sshd runs a command for the cluster's key.
func (c *Cluster) await(ctx context.Context, h *Host) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	var last error
	for {
		out, err := c.Command(ctx, h.Name, "true").CombinedOutput()
		if err == nil {
			return nil
		}
		last = fmt.Errorf("%v: %s", err, bytes.TrimSpace(out))
		select {
		case <-ctx.Done():
			return fmt.Errorf("simulated host %s: sshd on %s did not answer in a minute: %v; sshd said: %s", h.Name, h.Addr, last, h.logs)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Command is ssh to the named host running args there, through the
// cluster's ssh_config.
func (c *Cluster) Command(ctx context.Context, host string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "ssh", append([]string{"-F", c.Config, host, "--"}, args...)...)
}

// Host returns the named host, or nil.
func (c *Cluster) Host(name string) *Host {
	for _, h := range c.Hosts {
		if h.Name == name {
			return h
		}
	}
	return nil
}

// Close ends every process of the hosts (sshd and the sessions it
// started, which may have left their process group, and the processes in
// the nodes of labs built there) and removes the underlay; the hosts'
// namespaces and their mounts go with their last process. It removes Dir
// only with Options.RemoveDir.
func (c *Cluster) Close() error {
	var errs []error
	for _, h := range c.Hosts {
		if h.cmd == nil {
			continue
		}
		if h.netIno != 0 {
			if left := endHost(h.netIno, h.mntIno); len(left) > 0 {
				errs = append(errs, fmt.Errorf("simulated host %s: processes %v did not end", h.Name, left))
			}
		}
		h.cmd.Process.Kill()
		h.cmd.Wait()
		h.cmd = nil
	}
	for _, h := range c.Hosts {
		if linkExists(h.Link) {
			if err := ip("link", "del", h.Link); err != nil && linkExists(h.Link) {
				errs = append(errs, err)
			}
		}
	}
	if c.Bridge != "" && linkExists(c.Bridge) {
		if err := ip("link", "del", c.Bridge); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) == 0 && c.prefix != "" {
		removeRecord(c.prefix)
		if c.removeDir {
			os.RemoveAll(c.Dir)
		}
	}
	return errors.Join(errs...)
}

// Processes lists the processes whose network namespace is the host's
// (sshd among them), as "PID COMMAND".
func (h *Host) Processes() []string {
	ino, err := nsInode(h.NetNS())
	if err != nil {
		return nil
	}
	var out []string
	for _, pid := range processesIn(ino) {
		comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
		out = append(out, fmt.Sprintf("%d %s", pid, strings.TrimSpace(string(comm))))
	}
	return out
}

func nsInode(path string) (uint64, error) {
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		return 0, err
	}
	return st.Ino, nil
}

// processesIn lists the pids whose network namespace has inode ino.
func processesIn(ino uint64) []int { return processesWith("net", ino) }

// processesWith lists the pids, this process's aside, whose namespace of
// the kind ("net", "mnt") has inode ino.
func processesWith(kind string, ino uint64) []int {
	ents, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		if i, err := nsInode(fmt.Sprintf("/proc/%d/ns/%s", pid, kind)); err == nil && i == ino {
			pids = append(pids, pid)
		}
	}
	return pids
}

func linkExists(name string) bool {
	_, err := os.Stat("/sys/class/net/" + name)
	return err == nil
}

func prefixOf(a netip.Addr) string { return netip.PrefixFrom(a, 24).String() }

func ip(args ...string) error {
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}

func keygen(path string) error {
	out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "nslab-simhost", "-f", path).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ssh-keygen: %v: %s", err, bytes.TrimSpace(out))
	}
	return nil
}

func copyFile(from, to string) error {
	b, err := os.ReadFile(from)
	if err != nil {
		return err
	}
	return os.WriteFile(to, b, 0o600)
}

// Logins counts the ssh connections the host's sshd accepted (logins:
// one per connection, however many sessions it then carries).
func (h *Host) Logins() int {
	if h.logs == nil {
		return 0
	}
	h.logs.mu.Lock()
	defer h.logs.mu.Unlock()
	return h.logs.logins
}

// logBuffer keeps what sshd writes to its standard error (the first 64
// KiB), read while it is written, and counts its logins.
type logBuffer struct {
	mu     sync.Mutex
	b      bytes.Buffer
	logins int
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.logins += bytes.Count(p, []byte("Accepted publickey for "))
	if l.b.Len() > 64<<10 {
		return len(p), nil
	}
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
