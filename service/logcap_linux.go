package service

import (
	"io"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// logCap keeps the services' logs under a size: inotify tells it of
// every write (IN_MODIFY on the logs' directories, coalesced by the
// kernel while it reads), and a log over the limit is copied to LOG.1
// (the one old file kept) and truncated: the service writes with
// O_APPEND, so its next write lands at the start.
type logCap struct {
	fd    int
	limit atomic.Int64
	mu    sync.Mutex
	dirs  map[string]int // directory → watch
	byWd  map[int]string
}

func newLogCap(limit int64) (*logCap, error) {
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC)
	if err != nil {
		return nil, err
	}
	l := &logCap{fd: fd, dirs: map[string]int{}, byWd: map[int]string{}}
	l.limit.Store(limit)
	go l.run()
	return l, nil
}

// add watches the directory of the log at path.
func (l *logCap) add(path string) {
	dir := filepath.Dir(path)
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.dirs[dir]; ok {
		return
	}
	os.MkdirAll(dir, 0o700)
	wd, err := unix.InotifyAddWatch(l.fd, dir, unix.IN_MODIFY)
	if err != nil {
		logf("watching %s: %v", dir, err)
		return
	}
	l.dirs[dir], l.byWd[wd] = wd, dir
	l.check(path) // written before it was watched
}

func (l *logCap) run() {
	buf := make([]byte, 64<<10)
	for {
		n, err := unix.Read(l.fd, buf)
		if err != nil {
			if err == unix.EINTR {
				continue
			}
			logf("reading inotify events: %v", err)
			return
		}
		for off := 0; off+unix.SizeofInotifyEvent <= n; {
			ev := (*unix.InotifyEvent)(unsafe.Pointer(&buf[off]))
			name := buf[off+unix.SizeofInotifyEvent : off+unix.SizeofInotifyEvent+int(ev.Len)]
			off += unix.SizeofInotifyEvent + int(ev.Len)
			l.mu.Lock()
			dir := l.byWd[int(ev.Wd)]
			l.mu.Unlock()
			if i := indexZero(name); i >= 0 {
				name = name[:i]
			}
			if dir != "" && filepath.Ext(string(name)) == ".log" {
				l.check(filepath.Join(dir, string(name)))
			}
		}
	}
}

func indexZero(b []byte) int {
	for i, c := range b {
		if c == 0 {
			return i
		}
	}
	return -1
}

// check rotates the log at path when it is over the limit.
func (l *logCap) check(path string) {
	fi, err := os.Stat(path)
	limit := l.limit.Load()
	if err != nil || fi.Size() <= limit {
		return
	}
	if err := rotate(path, limit); err != nil {
		logf("rotating %s: %v", path, err)
	}
}

// rotate keeps the last limit bytes of the log in LOG.1 and empties the
// log. What the service writes between the copy and the truncation is
// lost (as with logrotate's copytruncate); the copy is in the kernel
// (copy_file_range) and at most limit bytes, however far a writer as
// fast as yes got past the limit.
func rotate(path string, limit int64) error {
	src, err := os.Open(path)
	if err != nil {
		return err
	}
	defer src.Close()
	fi, err := src.Stat()
	if err != nil {
		return err
	}
	tmp := path + ".1.new"
	dst, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	from := max(0, fi.Size()-limit)
	if _, err = src.Seek(from, io.SeekStart); err == nil {
		_, err = io.Copy(dst, io.LimitReader(src, fi.Size()-from))
	}
	if cerr := dst.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path+".1")
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Truncate(path, 0)
}
