package stockvm

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// readCpio reads a newc archive back: name -> mode and data.
func readCpio(t *testing.T, b []byte) map[string]string {
	t.Helper()
	out := map[string]string{}
	off := 0
	align := func(n int) int { return (n + 3) &^ 3 }
	for {
		if off+110 > len(b) || string(b[off:off+6]) != "070701" {
			t.Fatalf("no newc header at %d", off)
		}
		field := func(i int) int {
			v, err := strconv.ParseUint(string(b[off+6+8*i:off+14+8*i]), 16, 32)
			if err != nil {
				t.Fatal(err)
			}
			return int(v)
		}
		mode, size, namesize := field(1), field(6), field(11)
		name := string(b[off+110 : off+110+namesize-1])
		data := off + align(110+namesize)
		if name == "TRAILER!!!" {
			return out
		}
		out[name] = strconv.FormatInt(int64(mode), 8) + " " + string(b[data:data+size])
		off = data + align(size)
	}
}

func TestCpio(t *testing.T) {
	var buf bytes.Buffer
	c := &cpioWriter{w: &buf}
	c.dir("bin")
	c.file("init", 0o755, []byte("#!/bin/sh\n"))
	c.symlink("bin/sh", "busybox")
	c.char("dev/console", 5, 1)
	c.file("odd", 0o644, []byte("12345"))
	if err := c.close(); err != nil {
		t.Fatal(err)
	}
	if buf.Len()%4 != 0 {
		t.Errorf("archive of %d bytes, want a multiple of 4", buf.Len())
	}
	want := map[string]string{
		"bin": "40755 ", "init": "100755 #!/bin/sh\n", "bin/sh": "120777 busybox",
		"dev/console": "20600 ", "odd": "100644 12345",
	}
	if d := cmp.Diff(want, readCpio(t, buf.Bytes())); d != "" {
		t.Errorf("archive read back (-want +got):\n%s", d)
	}
	// cpio itself, where there is one, reads it too.
	if _, err := exec.LookPath("cpio"); err == nil {
		cmd := exec.Command("cpio", "-t")
		cmd.Stdin = &buf
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "dev/console") {
			t.Errorf("cpio -t: %v\n%s", err, out)
		}
	}
}

func TestModuleOrder(t *testing.T) {
	dir := t.TempDir()
	dep := `kernel/fs/9p/9p.ko: kernel/fs/netfs/netfs.ko kernel/net/9p/9pnet.ko kernel/fs/fscache/fscache.ko
kernel/fs/netfs/netfs.ko:
kernel/fs/fscache/fscache.ko: kernel/fs/netfs/netfs.ko
kernel/net/9p/9pnet.ko:
kernel/net/9p/9pnet_virtio.ko: kernel/net/9p/9pnet.ko kernel/drivers/virtio/virtio_ring.ko kernel/drivers/virtio/virtio.ko
kernel/drivers/virtio/virtio_ring.ko:
kernel/drivers/virtio/virtio.ko: kernel/drivers/virtio/virtio_ring.ko
kernel/net/sched/sch-x.ko.xz:
`
	os.WriteFile(filepath.Join(dir, "modules.dep"), []byte(dep), 0o644)
	os.WriteFile(filepath.Join(dir, "modules.builtin"), []byte("kernel/drivers/virtio/virtio_pci.ko\n"), 0o644)
	d, err := readDeps(dir)
	if err != nil {
		t.Fatal(err)
	}
	got, err := d.order("virtio_pci", "9pnet_virtio", "9p")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"kernel/drivers/virtio/virtio_ring.ko", "kernel/drivers/virtio/virtio.ko", "kernel/net/9p/9pnet.ko",
		"kernel/net/9p/9pnet_virtio.ko", "kernel/fs/netfs/netfs.ko", "kernel/fs/fscache/fscache.ko", "kernel/fs/9p/9p.ko",
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("insmod order (-want +got):\n%s", d)
	}
	if _, err := d.order("sch_x"); err == nil || !strings.Contains(err.Error(), "compressed") {
		t.Errorf("a compressed module: %v, want an error saying so", err)
	}
	if _, err := d.order("nope"); err == nil || !strings.Contains(err.Error(), "no module nope") {
		t.Errorf("a missing module: %v", err)
	}
}

// TestRunScript: the guest runs the binary with its arguments as given,
// quotes and spaces included, in its directory, with NSLAB_IN_VM set.
func TestRunScript(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	dir := t.TempDir()
	j := Job{Dir: dir, Args: []string{"a b", "it's", "$HOME", ""}, Env: []string{"NSLAB_X=1 2"}}
	s := runScript(j)
	s = strings.Replace(s, "/run/nslab-vm/bin", `sh -c 'pwd; echo "$NSLAB_IN_VM|$NSLAB_X|$TMPDIR"; for a; do echo "[$a]"; done' sh`, 1)
	out, err := exec.Command(sh, "-c", s).CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	want := dir + "\n1|1 2|/tmp\n[a b]\n[it's]\n[$HOME]\n[]\n"
	if string(out) != want {
		t.Errorf("the run script printed\n%s\nwant\n%s", out, want)
	}
}

func TestResults(t *testing.T) {
	out := "=== RUN   TestA\n--- PASS: TestA (0.1s)\n=== RUN   TestB\n    --- FAIL: TestB/sub (0s)\n--- FAIL: TestB (0s)\n--- SKIP: TestC (0s)\nPASS\n"
	p, f, s := Results(out)
	if d := cmp.Diff([][]string{{"TestA"}, {"TestB"}, {"TestC"}}, [][]string{p, f, s}); d != "" {
		t.Errorf("results (-want +got):\n%s", d)
	}
}

// TestGuestTail: a guest that did not end is explained by the start of
// its panic (go test's timeout names the running tests) and its last
// lines.
func TestGuestTail(t *testing.T) {
	g := newGuestTail()
	for i := range 50 {
		g.add(fmt.Sprintf("line %d", i))
	}
	g.add("panic: test timed out after 7m0s")
	g.add("running tests:")
	g.add("\tTestSlow (6m59s)")
	for i := range 200 {
		g.add(fmt.Sprintf("goroutine %d", i))
	}
	s := g.String()
	for _, want := range []string{"panic: test timed out after 7m0s\nrunning tests:\n\tTestSlow (6m59s)\n", "(the last 80 of 253 lines)", "goroutine 199"} {
		if !strings.Contains(s, want) {
			t.Errorf("the tail lacks %q:\n%s", want, s)
		}
	}
	if strings.Contains(s, "line 10\n") || strings.Contains(s, "goroutine 100\n") {
		t.Errorf("the tail keeps lines from the middle:\n%s", s)
	}
}
