package fleet

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
)

// invoker is the user who ran nslab through sudo: ssh runs as that user,
// so that their keys, agent (SSH_AUTH_SOCK, when sudo keeps it) and
// ssh_config (~/.ssh/config, known_hosts) are the ones used, as when they
// type ssh themselves. Nil when nslab does not run as root under sudo for
// another user.
type invoker struct {
	uid, gid uint32
	groups   []uint32
	name     string
	home     string
}

var invokerOnce = sync.OnceValue(func() *invoker {
	name := os.Getenv("SUDO_USER")
	if os.Geteuid() != 0 || name == "" || name == "root" {
		return nil
	}
	u, err := user.Lookup(name)
	if err != nil {
		return nil
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err1 != nil || err2 != nil || uid == 0 {
		return nil
	}
	inv := &invoker{uid: uint32(uid), gid: uint32(gid), name: u.Username, home: u.HomeDir}
	gids, _ := u.GroupIds()
	for _, g := range gids {
		if n, err := strconv.ParseUint(g, 10, 32); err == nil {
			inv.groups = append(inv.groups, uint32(n))
		}
	}
	return inv
})

// asInvoker makes cmd (ssh) run as the user who ran nslab through sudo,
// with their home, when there is one.
func asInvoker(cmd *exec.Cmd) {
	inv := invokerOnce()
	if inv == nil {
		return
	}
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Credential = &syscall.Credential{Uid: inv.uid, Gid: inv.gid, Groups: inv.groups}
	env := cmd.Env
	if env == nil {
		env = os.Environ()
	}
	cmd.Env = append(env, "HOME="+inv.home, "USER="+inv.name, "LOGNAME="+inv.name)
}

// controlBase is where the shared ssh connections' sockets go: nslab's
// state directory (root's alone), or under sudo a directory of the user
// ssh runs as (TMPDIR/nslab-ssh-UID, theirs, 0700), refused when another
// user holds it.
func controlBase(state string) (string, error) {
	inv := invokerOnce()
	if inv == nil {
		return state, os.MkdirAll(state, 0o700)
	}
	base := filepath.Join(os.TempDir(), fmt.Sprintf("nslab-ssh-%d", inv.uid))
	if err := os.Mkdir(base, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return "", err
	}
	fi, err := os.Lstat(base)
	if err != nil {
		return "", err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !fi.IsDir() || !ok || st.Uid != 0 && st.Uid != inv.uid || fi.Mode().Perm()&0o077 != 0 {
		return "", fmt.Errorf("%s, where ssh run as %s (SUDO_USER) keeps its shared connections, is not a directory of %s or root with mode 0700: remove it", base, inv.name, inv.name)
	}
	return base, os.Lchown(base, int(inv.uid), int(inv.gid))
}

// giveInvoker hands the directories made for ssh's sockets to the user
// ssh runs as under sudo.
func giveInvoker(dirs ...string) error {
	inv := invokerOnce()
	if inv == nil {
		return nil
	}
	for _, d := range dirs {
		if err := os.Lchown(d, int(inv.uid), int(inv.gid)); err != nil {
			return err
		}
	}
	return nil
}
