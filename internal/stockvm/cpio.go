package stockvm

import (
	"fmt"
	"io"
	"os"
)

// cpioWriter writes a "newc" cpio archive, the format the kernel unpacks
// as an initramfs (Documentation/driver-api/early-userspace/buffer-format.rst).
type cpioWriter struct {
	w   io.Writer
	off int64
	ino int
	err error
}

const (
	modeDir  = 0o040000
	modeFile = 0o100000
	modeLink = 0o120000
	modeChar = 0o020000
)

func (c *cpioWriter) write(p []byte) {
	if c.err != nil {
		return
	}
	n, err := c.w.Write(p)
	c.off += int64(n)
	c.err = err
}

func (c *cpioWriter) pad() {
	if r := c.off % 4; r != 0 {
		c.write(make([]byte, 4-r))
	}
}

// entry writes one header, its name and its data.
func (c *cpioWriter) entry(name string, mode uint32, rdev [2]uint32, data []byte) {
	c.ino++
	nlink := 1
	if mode&0o170000 == modeDir {
		nlink = 2
	}
	hdr := fmt.Sprintf("070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X",
		c.ino, mode, 0, 0, nlink, 0, len(data), 0, 0, rdev[0], rdev[1], len(name)+1, 0)
	c.write([]byte(hdr))
	c.write(append([]byte(name), 0))
	c.pad()
	c.write(data)
	c.pad()
}

func (c *cpioWriter) dir(name string) { c.entry(name, modeDir|0o755, [2]uint32{}, nil) }

func (c *cpioWriter) file(name string, perm uint32, data []byte) {
	c.entry(name, modeFile|perm, [2]uint32{}, data)
}

func (c *cpioWriter) symlink(name, target string) {
	c.entry(name, modeLink|0o777, [2]uint32{}, []byte(target))
}

func (c *cpioWriter) char(name string, major, minor uint32) {
	c.entry(name, modeChar|0o600, [2]uint32{major, minor}, nil)
}

// copyFile adds the file at src as name.
func (c *cpioWriter) copyFile(name, src string, perm uint32) {
	data, err := os.ReadFile(src)
	if err != nil && c.err == nil {
		c.err = err
	}
	c.file(name, perm, data)
}

// close writes the trailer.
func (c *cpioWriter) close() error {
	c.entry("TRAILER!!!", 0, [2]uint32{}, nil)
	return c.err
}
