package main

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/nslab/nslab/nslabtest"
)

// TestUnreadableTopologyFile: validate and plan, which need no
// privileges, run by a user who may not read the file (a symlink to a
// root-only file) say so, with whose the file is and what to do; not that
// nslab needs root (as they did), and nothing of the file's text.
func TestUnreadableTopologyFile(t *testing.T) {
	nslabtest.RequireRoot(t)
	dir := t.TempDir()
	for _, d := range []string{filepath.Dir(dir), dir} { // t.TempDir makes them 0700
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	secret := filepath.Join(dir, "secret")
	if err := os.WriteFile(secret, []byte("name: s3cr3t\nnodes: {}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "lab.yaml")
	if err := os.Symlink(secret, link); err != nil {
		t.Fatal(err)
	}
	nobody := &syscall.Credential{Uid: 65534, Gid: 65534}
	for _, args := range [][]string{{"validate", link}, {"plan", link}} {
		r := nslabAs(t, nobody, nil, args...)
		want := []string{link + ": permission denied: this user (uid 65534) may not read it (a symlink to " + secret + ", owned by root, mode 0600)", "give a copy you can read"}
		if r.code != 1 || r.stdout != "" || strings.Contains(r.stderr, "needs root") || strings.Contains(r.stderr, "s3cr3t") {
			t.Errorf("nslab %s as nobody: code %d, stdout %q, stderr %q; want 1, no output, no word of root privileges or of the file's text", strings.Join(args, " "), r.code, r.stdout, r.stderr)
		}
		for _, w := range want {
			if !strings.Contains(r.stderr, w) {
				t.Errorf("nslab %s as nobody: stderr %q, want %q in it", strings.Join(args, " "), r.stderr, w)
			}
		}
	}
}

// TestPlanWithoutRootSaysSo: plan run by a user without root's
// capabilities on the file of a running lab prints the whole lab, and
// says on stderr that it could not look at the running one (it printed
// the whole lab as if nothing ran, without a word).
func TestPlanWithoutRootSaysSo(t *testing.T) {
	file, name := seedFile(t, nslabtest.Subnet(t))
	if r := nslab(t, "", "up", file); r.code != 0 {
		t.Fatalf("up: %s", r.stderr)
	}
	dir := t.TempDir()
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	readable := filepath.Join(dir, "lab.yaml")
	if err := os.WriteFile(readable, data, 0o644); err != nil {
		t.Fatal(err)
	}
	r := nslabAs(t, &syscall.Credential{Uid: 65534, Gid: 65534}, nil, "plan", readable)
	if r.code != 0 || !strings.Contains(r.stdout, "ip netns add "+name+".ns1") {
		t.Errorf("plan as nobody: code %d, stdout %q; want 0 and the whole lab", r.code, r.stdout)
	}
	if !strings.Contains(r.stderr, "plan cannot look into lab "+name+", running or not: this is the whole lab, as --full prints it") {
		t.Errorf("plan as nobody: stderr %q, want it to say that it could not look at the running lab", r.stderr)
	}
}
