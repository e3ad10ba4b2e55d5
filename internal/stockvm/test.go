package stockvm

import (
	"bytes"
	"context"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"
)

// Test runs the calling test binary's tests that match pattern (a
// -test.run expression) in the VM when the host's kernel lacks what they
// need: hostHas says so with an error naming the missing module, nil when
// the host has it and the tests run on the host. It skips, with the
// reason, when the host has the feature, inside the VM already, without
// root, or without qemu and a stock kernel. It fails when the VM's run
// fails, when a chosen test fails or skips there (the stock kernel has
// the feature, so a skip hides a broken test), or when none ran. The
// guest's output, with the kernel it ran on, goes to the test's log.
func Test(t *testing.T, pattern string, hostHas func() error) {
	t.Helper()
	if os.Getenv(InVM) != "" {
		t.Skip("inside the stock-kernel VM already")
	}
	lack := hostHas()
	if lack == nil {
		t.Skipf("this kernel has what %s need: they run on the host", pattern)
	}
	if os.Geteuid() != 0 {
		t.Skipf("needs root to run %s in a VM (the host's kernel lacks it: %v)", pattern, lack)
	}
	s, err := Find()
	if err != nil {
		t.Skipf("the host's kernel lacks what %s need (%v), and %v", pattern, lack, err)
	}
	bin, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir, _ := os.Getwd()
	// The guest's go test ends at its timeout (a panic naming the tests
	// that were running); a guest that cannot end its binary (a thread
	// stuck in the kernel) prints its blocked tasks 15 s later and is
	// killed 45 s after that: all of it a minute before this test's own
	// deadline, so that the guest's output reaches the log.
	timeout := 8 * time.Minute
	if d, ok := t.Deadline(); ok && time.Until(d) < timeout+2*time.Minute {
		timeout = time.Until(d) - 2*time.Minute
	}
	if timeout < time.Minute {
		t.Fatalf("%v left before the test binary's deadline: too little to run %s in the VM (give go test a longer -timeout)", timeout+2*time.Minute, pattern)
	}
	var out bytes.Buffer
	res, err := s.Run(context.Background(), Job{
		Binary: bin,
		Args:   []string{"-test.run", pattern, "-test.v", "-test.count=1", "-test.timeout", timeout.String()},
		Dir:    dir, Out: &out, Timeout: timeout + time.Minute, Watchdog: timeout + 15*time.Second,
		Logf: func(f string, a ...any) { t.Logf(f, a...) },
	})
	t.Logf("the host's kernel lacks it (%v); in the VM, kernel %s (qemu %s, up in %v):\n%s",
		lack, res.Kernel, res.Accel, res.Boot.Round(time.Millisecond), out.String())
	if err != nil {
		t.Fatalf("running %s in the VM: %v", pattern, err)
	}
	passed, failed, skipped := Results(out.String())
	if len(failed) > 0 || len(skipped) > 0 || len(passed) == 0 || res.Exit != 0 {
		t.Errorf("in the VM (kernel %s): exit status %d, passed %v, failed %v, skipped %v (a test skipped in the VM lacks what it should have there)",
			res.Kernel, res.Exit, passed, failed, skipped)
	}
}

var resultLine = regexp.MustCompile(`^--- (PASS|FAIL|SKIP): (\S+)`)

// Results reads go test -v output: the top-level tests that passed,
// failed and skipped.
func Results(out string) (passed, failed, skipped []string) {
	for _, l := range strings.Split(out, "\n") {
		m := resultLine.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		switch m[1] {
		case "PASS":
			passed = append(passed, m[2])
		case "FAIL":
			failed = append(failed, m[2])
		case "SKIP":
			skipped = append(skipped, m[2])
		}
	}
	return
}
