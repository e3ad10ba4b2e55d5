package kernel

import (
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// NetnsHere names the network namespace nslab runs in, the one it takes
// for the root namespace: "net:[INODE]" as /proc/PID/ns/net links read,
// with its device.
func NetnsHere() (string, error) {
	// The calling thread's, not the process's: /proc/self/ns is the main
	// thread's, which a library user's code may have left in a node's
	// namespace (a goroutine locked to it that ended there wedges it);
	// the threads Go runs unlocked goroutines on are all in the namespace
	// nslab's sockets are made in.
	return netnsID("/proc/thread-self/ns/net")
}

func netnsID(path string) (string, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return "", fmt.Errorf("reading the network namespace nslab runs in: %w", err)
	}
	return fmt.Sprintf("net:[%d] on device %d", st.Ino, st.Dev), nil
}

// NetnsAlive reports whether a network namespace named by NetnsHere still
// exists: a process is in it, or a file under /run/netns holds it. It
// reads every process's /proc/PID/ns/net: call it only when a namespace
// is in doubt.
func NetnsAlive(id string) bool {
	paths, _ := filepath.Glob("/proc/[0-9]*/ns/net")
	entries, _ := os.ReadDir(NetnsDir)
	for _, e := range entries {
		paths = append(paths, filepath.Join(NetnsDir, e.Name()))
	}
	for _, p := range paths {
		if got, err := netnsID(p); err == nil && got == id {
			return true
		}
	}
	return false
}
