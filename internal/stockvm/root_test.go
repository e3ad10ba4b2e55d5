package stockvm

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"
	"time"
)

// TestGuestRootAfterSetns boots the VM with a job that leaves its mount
// namespace and enters the init's again (as nslab exec does to reach a
// node's UTS namespace): the root it lands on must be the host's, with
// its programs. Before, the job ran in a chroot of a child of init and
// came back to the initramfs (nslab exec NODE -- true: command not
// found; a bare node name not found). The job's last line has no
// newline: its exit status must still be read.
func TestGuestRootAfterSetns(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (9p of the host's root)")
	}
	s, err := Find()
	if err != nil {
		t.Skip(err)
	}
	var out bytes.Buffer
	res, err := s.Run(context.Background(), Job{
		Binary: "/bin/sh", Dir: "/",
		Args: []string{"-c", `unshare -m nsenter --mount=/proc/1/ns/mnt sh -c 'test -x /usr/bin/env && echo host root || echo initramfs root'; printf 'no newline'; exit 3`},
		Out:  &out,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("kernel %s: %q", res.Kernel, out.String())
	if !strings.Contains(out.String(), "host root") {
		t.Errorf("after leaving and entering the init's mount namespace: %q, want the host's root", out.String())
	}
	if res.Exit != 3 || !strings.HasSuffix(out.String(), "no newline") {
		t.Errorf("exit %d, output %q: want 3 and the last line kept", res.Exit, out.String())
	}
}

// TestGuestThatDoesNotEnd: a job that runs past its time is killed with
// the VM, and the error shows the guest's last lines and, from the
// watchdog, the tasks blocked in the guest's kernel. Before, the error
// had the boot's lines only, and Test gave the VM until the test binary's
// own deadline: go test's timeout then killed the binary first, the
// guest's output was lost and qemu stayed, spinning (seen in CI).
func TestGuestThatDoesNotEnd(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (9p of the host's root)")
	}
	s, err := Find()
	if err != nil {
		t.Skip(err)
	}
	start := time.Now()
	res, err := s.Run(context.Background(), Job{
		Binary: "/bin/sh", Dir: "/",
		Args:     []string{"-c", `echo before the hang; exec sleep 600`},
		Timeout:  60 * time.Second,
		Watchdog: 3 * time.Second,
	})
	t.Logf("kernel %s, up in %v, ended after %v: %v", res.Kernel, res.Boot, time.Since(start), err)
	if err == nil {
		t.Fatalf("a job that sleeps 600 s ended in %v without an error", time.Since(start))
	}
	for _, want := range []string{"did not finish in 1m0s", "before the hang", "watchdog: the binary runs past 3s", "Show Blocked State"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the error lacks %q:\n%v", want, err)
		}
	}
}
