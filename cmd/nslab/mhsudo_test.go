package main

import (
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nslab/nslab/nslabtest"
)

// TestLabAcrossHostsUnderSudo: nslab run by root for a user through sudo
// (SUDO_USER; this machine has no sudo, so its environment is made by
// hand) runs ssh as that user: the hosts are names of the user's own
// ~/.ssh/config, reached with the user's key and known_hosts, which root
// does not have. up and down work, and nothing is left.
func TestLabAcrossHostsUnderSudo(t *testing.T) {
	c := startHosts(t, "h1", "h2")
	if _, err := exec.LookPath("useradd"); err != nil {
		t.Skip("no useradd: cannot make the user who runs sudo")
	}
	name := fmt.Sprintf("nslabsu%d", os.Getpid()%100000)
	if out, err := exec.Command("useradd", "-m", "-s", "/bin/sh", name).CombinedOutput(); err != nil {
		t.Fatalf("useradd %s: %v\n%s", name, err, out)
	}
	t.Cleanup(func() {
		// ssh's shared connections of the user end a moment after down.
		var out []byte
		var err error
		for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(500 * time.Millisecond) {
			if out, err = exec.Command("userdel", "-r", name).CombinedOutput(); err == nil {
				return
			}
		}
		t.Errorf("userdel -r %s: %v\n%s", name, err, out)
	})
	u, err := user.Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	dot := filepath.Join(u.HomeDir, ".ssh")
	key := filepath.Join(dot, "id_ed25519")
	var cfg strings.Builder
	for _, h := range c.Hosts {
		fmt.Fprintf(&cfg, "Host su-%s\n  HostName %s\n  User root\n  IdentityFile %s\n  IdentitiesOnly yes\n  StrictHostKeyChecking yes\n  BatchMode yes\n  LogLevel ERROR\n\n", h.Name, h.Addr, key)
	}
	known, err := os.ReadFile(filepath.Join(c.Dir, "known_hosts"))
	if err != nil {
		t.Fatal(err)
	}
	setup := fmt.Sprintf("set -e; mkdir -m 700 %[1]s; ssh-keygen -q -t ed25519 -N '' -f %[2]s; cat > %[1]s/config <<'END'\n%[3]sEND\ncat > %[1]s/known_hosts <<'END'\n%[4]sEND\nchmod 600 %[1]s/config %[1]s/known_hosts",
		dot, key, cfg.String(), string(known))
	if out, err := exec.Command("su", "-s", "/bin/sh", name, "-c", setup).CombinedOutput(); err != nil {
		t.Fatalf("setting up %s's ssh: %v\n%s", name, err, out)
	}
	// The hosts take the user's key (as root@host: sudo on the hosts is
	// another matter).
	pub, err := os.ReadFile(key + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(filepath.Join(c.Dir, "authorized_keys"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Write(pub)
	f.Close()

	lab := nslabtest.Name("su")
	file := filepath.Join(t.TempDir(), lab+".yaml")
	src := fmt.Sprintf(`name: %s
hosts:
  h1: {ssh: su-h1, address: %s}
  h2: {ssh: su-h2, address: %s}
nodes:
  a: {host: h1, interfaces: {eth0: {link: b:eth0, addresses: [10.85.0.1/30]}}}
  b: {host: h2, interfaces: {eth0: {addresses: [10.85.0.2/30]}}}
`, lab, c.Host("h1").Addr, c.Host("h2").Addr)
	if err := os.WriteFile(file, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	// What sudo leaves: root's HOME, the caller in SUDO_*, no
	// NSLAB_SSH_CONFIG.
	var env []string
	for _, e := range os.Environ() {
		if !strings.HasPrefix(e, "NSLAB_SSH_CONFIG=") && !strings.HasPrefix(e, "HOME=") && !strings.HasPrefix(e, "SSH_AUTH_SOCK=") {
			env = append(env, e)
		}
	}
	env = append(env, "HOME=/root", "SUDO_USER="+name, "SUDO_UID="+u.Uid, "SUDO_GID="+u.Gid, "NSLAB_SSH_TIMEOUT=10")
	run := func(args ...string) result {
		cmd := exec.Command(bin, args...)
		cmd.Env = env
		return runCmd(t, cmd, "", args)
	}
	t.Cleanup(func() {
		if r := run("down", "-q", lab); r.code != 0 {
			os.Remove(filepath.Join("/run/nslab/.fleet", lab+".json"))
		}
	})
	if r := run("up", file); r.code != 0 {
		t.Fatalf("up under sudo for %s: exit %d\n%s%s", name, r.code, r.stdout, r.stderr)
	}
	if r := run("exec", lab+".b", "--", "ping", "-c", "1", "-W", "3", "10.85.0.1"); r.code != 0 {
		t.Errorf("exec b -- ping a under sudo: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := run("down", lab); r.code != 0 {
		t.Fatalf("down under sudo: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	for _, h := range c.Hosts {
		if left := leftOn(h); left != "" {
			t.Errorf("%s after down: left\n%s", h.Name, left)
		}
	}
	if _, err := os.Stat(filepath.Join(os.TempDir(), "nslab-ssh-"+u.Uid)); err == nil {
		t.Errorf("the directory of %s's shared ssh connections is left", name)
	}
}
