package lab

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"strings"

	"github.com/nslab/nslab/topology"
)

// checkServices finds, before anything is built, the services that
// cannot start on this host: a program that is not found or not
// executable, and a user name the host does not know. Each is reported
// at its line. (Validation reads nothing of the machine; this does.) A
// dir: must be a directory of the host already.
//
// A program is looked up as the supervisor runs it: a name in the PATH of
// the service's env, or topology.ServicePath when env sets none; a path
// as written (a relative one against the service's dir, and not at all
// when the service runs in the node's own directory, which up makes
// empty). For a command written as a string, the first word of the script
// is looked up when it is a plain command word: not a shell keyword or
// builtin, an assignment, or a word the shell expands (after exec, the
// word that follows).
func checkServices(t *topology.Lab) error {
	var errs topology.ErrorList
	users := map[string]error{}
	found := programCache{}
	for _, n := range t.Nodes {
		errs = append(errs, sharedNodeDir(n)...)
		for _, s := range n.Services {
			if err := found.find(s.Command, s.Shell, s.Env, s.Dir); err != nil {
				errs = append(errs, &topology.Error{Pos: s.CommandPos, Msg: fmt.Sprintf("service %s: %v", s.Ref(), err)})
			}
			if r := s.Ready; r != nil && r.Command != nil {
				if err := found.find(r.Command, r.Shell, s.Env, s.Dir); err != nil {
					errs = append(errs, &topology.Error{Pos: r.CommandPos, Msg: fmt.Sprintf("service %s: ready: %v", s.Ref(), err)})
				}
			}
			if s.Dir != "" {
				if err := isDir(s.Dir); err != nil {
					errs = append(errs, &topology.Error{Pos: s.DirPos, Msg: fmt.Sprintf("service %s: %v", s.Ref(), err)})
				}
			}
			if s.User == "" {
				continue
			}
			err, seen := users[s.User]
			if !seen {
				err = knownUser(s.User)
				users[s.User] = err
			}
			if err != nil {
				errs = append(errs, &topology.Error{Pos: s.UserPos, Msg: fmt.Sprintf("service %s: %v", s.Ref(), err)})
			}
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return errs
}

// sharedNodeDir refuses services of one node that run as different users
// other than root in the node's own directory (no dir:): the directory
// belongs to one user (mode 0700), and the others could not even start
// in it (they failed with "fork/exec /bin/sh: permission denied").
func sharedNodeDir(n *topology.Node) topology.ErrorList {
	var errs topology.ErrorList
	var first *topology.Service
	firstUID := 0
	for _, s := range n.Services {
		if s.User == "" || s.Dir != "" {
			continue
		}
		uid, _, err := lookupIDs(s.User)
		if err != nil || uid == 0 {
			continue // an unknown user is reported by itself; root may enter any directory
		}
		if first == nil {
			first, firstUID = s, uid
			continue
		}
		if uid != firstUID {
			errs = append(errs, &topology.Error{Pos: s.UserPos, Msg: fmt.Sprintf(
				"service %s: user %s: the node's own directory belongs to user %s, for %s (at %s), and no other user may use it; run the node's services as one user, or give this one a dir: of its own",
				s.Ref(), s.User, first.User, first.Ref(), lineColOf(first.UserPos))})
		}
	}
	return errs
}

func lineColOf(p topology.Pos) string { return fmt.Sprintf("%d:%d", p.Line, p.Col) }

// knownUser checks that a user name exists on the host. A uid is taken
// as it is: a process may run as a uid that has no passwd entry.
func knownUser(name string) error {
	if strings.Trim(name, "0123456789") == "" {
		return nil
	}
	_, err := user.Lookup(name)
	var unknown user.UnknownUserError
	switch {
	case errors.As(err, &unknown):
		return fmt.Errorf("user %q does not exist on this host: create it (useradd), or name another user or a uid", name)
	case err != nil:
		return fmt.Errorf("looking up user %q: %w", name, err)
	}
	return nil
}

// programCache keeps the result of each lookup: a lab of a thousand
// nodes runs the same few programs (a lookup is up to one stat per
// directory of PATH).
type programCache map[[3]string]error

func (c programCache) find(argv []string, shell bool, env []string, dir string) error {
	prog := program(argv, shell)
	if prog == "" {
		return nil
	}
	key := [3]string{prog, servicePath(env), dir}
	err, ok := c[key]
	if !ok {
		err = lookProgram(prog, key[1], dir)
		c[key] = err
	}
	return err
}

// findProgram looks up the program of a command; nil when found or when
// it cannot be known before the service runs.
func findProgram(argv []string, shell bool, env []string, dir string) error {
	prog := program(argv, shell)
	if prog == "" {
		return nil
	}
	return lookProgram(prog, servicePath(env), dir)
}

// program is the program a command runs, or "" when it cannot be known
// before it runs.
func program(argv []string, shell bool) string {
	switch {
	case shell && len(argv) == 3:
		return firstCommand(argv[2])
	case !shell && len(argv) > 0:
		return argv[0]
	}
	return ""
}

// servicePath is the PATH a service's program is looked up in.
func servicePath(env []string) string {
	pathList := topology.ServicePath
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			pathList = v
		}
	}
	return pathList
}

// lookProgram finds prog: a path, or a name in pathList.
func lookProgram(prog, pathList, dir string) error {
	if strings.Contains(prog, "/") {
		path := prog
		if !filepath.IsAbs(path) {
			if dir == "" {
				return nil
			}
			path = filepath.Join(dir, path)
		}
		return executable(path, prog)
	}
	var found error
	for _, d := range filepath.SplitList(pathList) {
		if d == "" || !filepath.IsAbs(d) {
			continue // the current directory: not known before the service runs
		}
		err := executable(filepath.Join(d, prog), prog)
		if err == nil {
			return nil
		}
		if found == nil && !errors.Is(err, fs.ErrNotExist) {
			found = err // there, but not runnable
		}
	}
	if found != nil {
		return found
	}
	return fmt.Errorf("command %q not found in PATH %s: install it, write its full path, or set PATH in env", prog, pathList)
}

// executable checks that path is a file with an execute bit.
func executable(path, prog string) error {
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return missingError(fmt.Sprintf("command %q: %s does not exist", prog, path))
	case err != nil:
		return fmt.Errorf("command %q: %w", prog, err)
	case fi.IsDir():
		return fmt.Errorf("command %q: %s is a directory", prog, path)
	case fi.Mode()&0o111 == 0:
		return fmt.Errorf("command %q: %s is not executable: chmod +x it", prog, path)
	}
	return nil
}

// shellWords are the words that sh runs itself: keywords and builtins
// (POSIX's, and dash's and bash's common ones). A script that starts with
// one is not looked up.
var shellWords = map[string]bool{}

func init() {
	for _, w := range strings.Fields(`! { } [[ ]] case do done elif else esac fi for function if in select then time until while
		. : [ alias bg break builtin cd command continue declare echo eval exec exit export false fc fg getopts hash jobs kill
		let local logout newgrp printf pwd read readonly return set shift source test times trap true type typeset ulimit
		umask unalias unset wait`) {
		shellWords[w] = true
	}
}

// firstCommand returns the program the script runs first, when it is a
// plain word that sh looks up in PATH; "" when it is not, or cannot be
// known before the script runs.
func firstCommand(script string) string {
	words := firstWords(script)
	if len(words) > 1 && words[0] == "exec" {
		words = words[1:]
	}
	if len(words) == 0 || shellWords[words[0]] || !plainWord(words[0]) {
		return ""
	}
	return words[0]
}

// firstWords returns the words of the first simple command of a script,
// up to the first character that is not part of a plain word.
func firstWords(script string) []string {
	for {
		script = strings.TrimLeft(script, " \t\r\n")
		if !strings.HasPrefix(script, "#") {
			break
		}
		_, script, _ = strings.Cut(script, "\n")
	}
	end := strings.IndexAny(script, ";&|<>()\n`")
	if end >= 0 {
		script = script[:end]
	}
	return strings.Fields(script)
}

// plainWord reports whether sh takes w as it is: no quoting, expansion,
// pattern or assignment.
func plainWord(w string) bool {
	if strings.HasPrefix(w, "-") || strings.HasPrefix(w, "~") {
		return false
	}
	for _, c := range w {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("_./+-:@%,", c)) {
			return false
		}
	}
	return true
}

// missingError says that a program is not where it was looked for.
type missingError string

func (e missingError) Error() string { return string(e) }
func (e missingError) Unwrap() error { return fs.ErrNotExist }

// isDir checks that a service's working directory is there.
func isDir(dir string) error {
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("dir %s does not exist on this host: create it, or leave dir out to run in the node's own directory", dir)
	case err != nil:
		return fmt.Errorf("dir %s: %w", dir, err)
	case !fi.IsDir():
		return fmt.Errorf("dir %s is not a directory", dir)
	}
	return nil
}
