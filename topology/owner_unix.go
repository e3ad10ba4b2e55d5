//go:build unix

package topology

import (
	"os"
	"os/user"
	"strconv"
	"syscall"
)

// fileOwner names the owner of a file: the user name, or the uid.
func fileOwner(fi os.FileInfo) string {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return ""
	}
	owner := strconv.Itoa(int(st.Uid))
	if u, err := user.LookupId(owner); err == nil {
		owner = u.Username
	}
	return owner
}
