package kernel

import (
	"bufio"
	"encoding/hex"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
)

// Listeners lists the sockets of the caller's network namespace (the
// root namespace for nslab) that listen on one of ports, with the
// processes that hold them. It reads /proc/net/{tcp,tcp6,udp,udp6} as
// ss -ltun does, and /proc/PID/fd as ss -p does.
//
// Equivalent to: ss -ltunp
func Listeners(ports []uint16) ([]Listener, error) {
	// The tables of the calling thread's namespace.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var out []Listener
	for _, f := range []struct{ file, proto, state string }{
		{"tcp", "tcp", "0A"}, {"tcp6", "tcp", "0A"}, // LISTEN
		{"udp", "udp", "07"}, {"udp6", "udp", "07"}, // unconnected
	} {
		ls, err := readSockets(filepath.Join("/proc/thread-self/net", f.file), f.proto, f.state, ports)
		if err != nil {
			return nil, err
		}
		out = append(out, ls...)
	}
	if len(out) > 0 {
		owners := socketOwners()
		for i := range out {
			out[i].Procs = owners[out[i].Inode]
		}
	}
	return out, nil
}

// readSockets reads one /proc/net socket table: lines of
// "sl local_address rem_address st ... inode".
func readSockets(path, proto, state string, ports []uint16) ([]Listener, error) {
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return nil, nil // no IPv6 in this kernel
	}
	if err != nil {
		return nil, fmt.Errorf("reading the host's sockets: %w", err)
	}
	defer f.Close()
	var out []Listener
	sc := bufio.NewScanner(f)
	sc.Scan() // header
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 10 || fields[3] != state {
			continue
		}
		addr, port, ok := parseSockAddr(fields[1])
		if !ok || port == 0 || !slices.Contains(ports, port) {
			continue
		}
		inode, _ := strconv.ParseUint(fields[9], 10, 64)
		out = append(out, Listener{Proto: proto, Addr: addr, Port: port, Inode: inode})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	return out, nil
}

// parseSockAddr reads "0100007F:1F90": the address as the kernel keeps
// it, in 32-bit words of host byte order, and the port in hex.
func parseSockAddr(s string) (netip.Addr, uint16, bool) {
	a, p, ok := strings.Cut(s, ":")
	if !ok {
		return netip.Addr{}, 0, false
	}
	port, err := strconv.ParseUint(p, 16, 16)
	if err != nil {
		return netip.Addr{}, 0, false
	}
	b, err := hex.DecodeString(a)
	if err != nil || len(b) != 4 && len(b) != 16 {
		return netip.Addr{}, 0, false
	}
	for i := 0; i < len(b); i += 4 { // each word is little-endian here
		b[i], b[i+1], b[i+2], b[i+3] = b[i+3], b[i+2], b[i+1], b[i]
	}
	addr, _ := netip.AddrFromSlice(b)
	return addr.Unmap(), uint16(port), true
}

// socketOwners maps socket inodes to the processes that hold them.
func socketOwners() map[uint64][]Proc {
	out := map[uint64][]Proc{}
	procs, _ := os.ReadDir("/proc")
	for _, p := range procs {
		pid, err := strconv.Atoi(p.Name())
		if err != nil {
			continue
		}
		fds, _ := os.ReadDir(filepath.Join("/proc", p.Name(), "fd"))
		var comm string
		for _, fd := range fds {
			link, err := os.Readlink(filepath.Join("/proc", p.Name(), "fd", fd.Name()))
			if err != nil || !strings.HasPrefix(link, "socket:[") {
				continue
			}
			inode, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimPrefix(link, "socket:["), "]"), 10, 64)
			if err != nil {
				continue
			}
			if comm == "" {
				c, _ := os.ReadFile(filepath.Join("/proc", p.Name(), "comm"))
				comm = strings.TrimSpace(string(c))
			}
			if !slices.ContainsFunc(out[inode], func(x Proc) bool { return x.PID == pid }) {
				out[inode] = append(out[inode], Proc{PID: pid, Command: comm})
			}
		}
	}
	return out
}
