package topology

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// UnreadableError is a topology file that the user who runs nslab may not
// read. nslab reads files with that user's rights; no privilege of
// nslab's would help (validate and plan need none), so the message says
// whose the file is instead.
type UnreadableError struct {
	Path string
	Err  error
}

func (e *UnreadableError) Error() string {
	return fmt.Sprintf("reading topology: %s: permission denied: this user (uid %d) may not read it%s; nslab reads a topology file with the rights of whoever runs it: make it readable to you, or give a copy you can read",
		e.Path, os.Getuid(), describeOwner(e.Path))
}

func (e *UnreadableError) Unwrap() error { return e.Err }

// describeOwner says, in parentheses, where a symlink leads and whose the
// file is with its mode, as far as the caller may see them.
func describeOwner(path string) string {
	var s string
	if target, err := os.Readlink(path); err == nil {
		s = "a symlink to " + target
	}
	fi, err := os.Stat(path)
	if err != nil {
		if s == "" {
			return " (a directory on its path may not be searched)"
		}
		return " (" + s + ")"
	}
	if owner := fileOwner(fi); owner != "" {
		if s != "" {
			s += ", "
		}
		s += fmt.Sprintf("owned by %s, mode %04o", owner, fi.Mode().Perm())
	}
	if s == "" {
		return ""
	}
	return " (" + s + ")"
}

// unreadable wraps an error of opening path when it is one of permission.
func unreadable(path string, err error) error {
	if errors.Is(err, fs.ErrPermission) {
		return &UnreadableError{Path: path, Err: err}
	}
	return nil
}
