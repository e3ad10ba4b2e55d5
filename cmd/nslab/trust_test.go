package main

import (
	"bytes"
	"errors"
	"os/exec"
	"strings"
	"syscall"
	"testing"

	"github.com/nslab/nslab/internal/labtest"
)

// nslabAs runs the binary with cmd's credentials or wrapper: prefix is
// put before the binary (setpriv with its options, say).
func nslabAs(t *testing.T, cred *syscall.Credential, prefix []string, args ...string) result {
	t.Helper()
	argv := append(append(prefix, bin), args...)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errb.String()}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("running nslab %v: %v", args, err)
	}
	return r
}

// TestWithoutPrivileges runs every command that reads or changes a lab
// as an unprivileged user (nobody) and as root stripped of CAP_NET_ADMIN
// and CAP_SYS_ADMIN, against a running lab: each must say that it needs
// root, not that the lab or its nodes are missing, and change nothing.
func TestWithoutPrivileges(t *testing.T) {
	subnet := labtest.Subnet(t)
	file, name := seedFile(t, subnet)
	if r := nslab(t, "", "up", file); r.code != 0 {
		t.Fatalf("up: %s", r.stderr)
	}
	commands := [][]string{
		{"status"}, {"status", name}, {"ps", name}, {"check", name},
		{"exec", name + ".ns1", "--", "true"}, {"exec", "ns1", "true"}, {"shell", name + ".ns1"},
		{"link", "down", name + ".ns1:eth0"}, {"link", "up", name + ".ns1:eth0"},
		{"partition", name + ".ns1", name + ".ns2"}, {"heal", name},
		{"up", file}, {"down", name}, {"demo", "--lab", name + "x"},
	}
	users := map[string]func(args ...string) result{
		"nobody": func(args ...string) result {
			return nslabAs(t, &syscall.Credential{Uid: 65534, Gid: 65534}, nil, args...)
		},
	}
	if setpriv, err := exec.LookPath("setpriv"); err == nil {
		users["root without capabilities"] = func(args ...string) result {
			return nslabAs(t, nil, []string{setpriv, "--bounding-set", "-net_admin,-sys_admin", "--inh-caps", "-net_admin,-sys_admin"}, args...)
		}
	} else {
		t.Log("no setpriv: root without capabilities is not tried")
	}
	for who, run := range users {
		for _, args := range commands {
			r := run(args...)
			if r.code != 1 || !strings.Contains(r.stderr, "needs root, or the capabilities CAP_NET_ADMIN and CAP_SYS_ADMIN") || r.stdout != "" {
				t.Errorf("%s: nslab %s: code %d, stdout %q, stderr %q; want 1 and that it needs root",
					who, strings.Join(args, " "), r.code, r.stdout, r.stderr)
			}
		}
		// What needs no privileges still works.
		if r := run("validate", "../../examples/seed.yaml"); r.code != 0 {
			t.Errorf("%s: validate: code %d %s", who, r.code, r.stderr)
		}
	}
	// The lab is as it was: up, every cable joined, no partition.
	if r := nslab(t, "", "check", name); r.code != 0 {
		t.Errorf("check after the unprivileged commands: code %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}
