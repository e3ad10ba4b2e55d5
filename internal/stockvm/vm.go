package stockvm

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nslab/nslab/internal/child"
)

// Job is one binary to run in the guest.
type Job struct {
	Binary string   // the program, copied into the guest
	Args   []string // its arguments
	Dir    string   // the directory it runs in (read-only in the guest)
	Env    []string // KEY=VALUE added to the guest's environment
	Out    io.Writer
	// Logf receives the VM's own lines (kernel, boot time, exit); nil
	// drops them.
	Logf    func(format string, args ...any)
	Timeout time.Duration // 0: ten minutes
	Memory  int           // MiB; 0: 1536
	CPUs    int           // 0: 2
	// Tap, when set, gives the guest one network card (virtio, its driver
	// loaded at boot) on this existing tap device of the host, opened by
	// qemu (-nic tap,ifname=TAP,script=no): the guest then sees what the
	// tap's bridge carries, and nothing else. Empty: no network card.
	Tap string
	// MAC is the card's address; empty: qemu's 52:54:00:12:34:56.
	MAC string
	// Watchdog, when set, has the guest print the tasks blocked in its
	// kernel (sysrq w) once the binary has run that long: a binary that
	// cannot exit (a thread stuck in the kernel) shows where.
	Watchdog time.Duration
}

// Result is how the run went.
type Result struct {
	Exit   int           // the binary's exit status
	Kernel string        // uname -r in the guest
	Accel  string        // tcg or kvm
	Boot   time.Duration // from qemu's start to the binary's
	Total  time.Duration
}

// InVM is the environment variable set in the guest: tests that start a
// VM see it and do not start another.
const InVM = "NSLAB_IN_VM"

const marker = "nslab-vm: "

// Run boots the VM, runs the job's binary in it and returns its exit
// status once the guest is off. Run fails when the VM could not run the
// binary or stopped without its exit status (a kernel panic, the time
// out).
func (s *Setup) Run(ctx context.Context, j Job) (Result, error) {
	start := time.Now()
	res := Result{Exit: -1, Kernel: s.Version}
	logf := j.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	dir, err := os.MkdirTemp("", "nslab-vm-")
	if err != nil {
		return res, err
	}
	defer os.RemoveAll(dir)
	initrd := filepath.Join(dir, "initrd")
	if err := s.initramfs(initrd, j); err != nil {
		return res, fmt.Errorf("making the VM's initramfs: %w", err)
	}
	res.Accel = s.accel(ctx, dir)
	timeout := j.Timeout
	if timeout == 0 {
		timeout = 10 * time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, s.Qemu, s.qemuArgs(res.Accel, initrd, j)...)
	cmd.Stdin = nil
	var qerr bytes.Buffer
	cmd.Stderr = &qerr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return res, err
	}
	cmd.WaitDelay = 5 * time.Second
	// qemu dies with the process that runs it: a test binary killed by
	// go test's timeout leaves no VM spinning.
	if err := child.Start(cmd); err != nil {
		return res, fmt.Errorf("starting %s: %w", s.Qemu, err)
	}
	logf("booting %s (%s) under qemu %s", s.Kernel, s.Version, res.Accel)
	sc := bufio.NewScanner(out)
	sc.Buffer(nil, 1<<20)
	var tail []string
	guest := newGuestTail()
	done := false // the binary exited: what follows is the guest's end
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		if i := strings.Index(line, marker); i > 0 && res.Boot != 0 {
			// The binary's last line without its newline, then ours.
			if j.Out != nil && !done {
				fmt.Fprint(j.Out, line[:i])
			}
			line = line[i:]
		}
		if rest, ok := strings.CutPrefix(line, marker); ok {
			switch k, v, _ := strings.Cut(rest, " "); k {
			case "kernel":
				res.Kernel = v
			case "start":
				res.Boot = time.Since(start)
				logf("guest kernel %s up in %v, running %s", res.Kernel, res.Boot.Round(time.Millisecond), filepath.Base(j.Binary))
			case "exit":
				res.Exit, _ = strconv.Atoi(v)
				done = true
			default:
				guest.add(line)
				logf("%s", rest)
			}
			continue
		}
		if res.Boot == 0 {
			// Before the binary starts, the console is the kernel's and
			// the init's: kept to explain a boot that fails.
			tail = append(tail, line)
			if len(tail) > 40 {
				tail = tail[1:]
			}
			continue
		}
		guest.add(line)
		if j.Out != nil && !done {
			fmt.Fprintln(j.Out, line)
		}
	}
	werr := cmd.Wait()
	res.Total = time.Since(start)
	switch {
	case ctx.Err() != nil && res.Exit < 0 && res.Boot == 0:
		return res, fmt.Errorf("the VM did not boot in %v (killed): %s", timeout, strings.Join(tail, "\n"))
	case ctx.Err() != nil && res.Exit < 0:
		return res, fmt.Errorf("the VM did not finish in %v (killed); the guest's output:\n%s", timeout, guest)
	case res.Exit < 0:
		return res, fmt.Errorf("the VM stopped without the binary's exit status (%v): %s%s", werr, qerr.String(), strings.Join(tail, "\n"))
	}
	logf("guest exit status %d, %v in all", res.Exit, res.Total.Round(time.Millisecond))
	return res, nil
}

func (s *Setup) qemuArgs(accel, initrd string, j Job) []string {
	mem, cpus := j.Memory, j.CPUs
	if mem == 0 {
		mem = 1536
	}
	if cpus == 0 {
		cpus = 2
	}
	cpu := "max"
	if accel == "kvm" {
		cpu = "host"
	}
	return []string{
		"-accel", accel, "-cpu", cpu, "-smp", strconv.Itoa(cpus), "-m", strconv.Itoa(mem),
		"-nodefaults", "-no-user-config", "-display", "none", "-nic", nic(j), "-no-reboot",
		"-kernel", s.Kernel, "-initrd", initrd,
		"-append", "console=ttyS0 quiet loglevel=3 panic=-1 rdinit=/init",
		"-virtfs", "local,path=/,mount_tag=host,security_model=none,readonly=on,multidevs=remap",
		"-virtfs", "local,path=" + strings.ReplaceAll(jobDir(j), ",", ",,") + ",mount_tag=dir,security_model=none,readonly=on,multidevs=remap",
		"-chardev", "stdio,id=con,signal=off", "-serial", "chardev:con",
	}
}

// jobDir is the directory shared with the guest at its own path: the
// module the job's directory is in (the nearest with a go.mod: tests read
// files of sibling packages, ../examples), else that directory; "/" when
// the job has none. The guest sees the host's root, but fresh /tmp, /run,
// /var/tmp and /root, so a test in a clone under /tmp reads its files
// through this share.
func jobDir(j Job) string {
	if j.Dir == "" {
		return "/"
	}
	for d := j.Dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d
		}
		if d == filepath.Dir(d) {
			return j.Dir
		}
	}
}

// nic is the -nic option of the job: none, or its tap, which qemu opens
// as it is (no script runs on the host).
func nic(j Job) string {
	if j.Tap == "" {
		return "none"
	}
	n := "tap,ifname=" + j.Tap + ",script=no,downscript=no,model=virtio-net-pci"
	if j.MAC != "" {
		n += ",mac=" + j.MAC
	}
	return n
}

// quote quotes a word for sh.
func quote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// initScript is the guest's init: it mounts the host's root read-only,
// gives it fresh /run, /tmp and /dev, makes it the root (moved over the
// initramfs, as switch_root does, not a chroot of a child: a program that
// enters a mount namespace and comes back, as nslab exec does, lands on
// the namespace's root, which must be the host's) and runs stage2 there,
// which runs /vm/run and turns the guest off.
const initScript = `#!/bin/sh
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
echo "nslab-vm: kernel $(uname -r)"
for m in $(cat /m/order); do insmod /m/$m || echo "nslab-vm: insmod $m failed"; done
if ! mount -t 9p -o ro,trans=virtio,version=9p2000.L,msize=512000,cache=loose host /mnt; then
	echo "nslab-vm: mounting the host's root over 9p failed"
	reboot -f
fi
# The kernel loads modules on demand (a netem qdisc, a vlan link) by
# running the modprobe helper from its own root, the initramfs: the
# helper runs the host's modprobe in the host's root.
echo /bin/modprobe-host > /proc/sys/kernel/modprobe
for d in proc sys dev; do mount --move /$d /mnt/$d; done
mkdir -p /mnt/dev/pts /mnt/dev/shm
mount -t devpts devpts /mnt/dev/pts
mount -t tmpfs tmpfs /mnt/dev/shm
mount -t tmpfs tmpfs /mnt/run
mount -t tmpfs tmpfs /mnt/tmp
mount -t tmpfs tmpfs /mnt/var/tmp
mount -t tmpfs tmpfs /mnt/root
mkdir /mnt/run/nslab-vm /mnt/run/nslab-vm-bin
mount --bind /vm /mnt/run/nslab-vm
mount --bind /bin /mnt/run/nslab-vm-bin
# The job's directory, at its path (under a tmpfs made above, or over
# the same directory of the root share).
d=$(cat /vm/dir)
if [ "$d" != / ]; then
	mkdir -p "/mnt$d" 2>/dev/null
	mount -t 9p -o ro,trans=virtio,version=9p2000.L,msize=512000,cache=loose dir "/mnt$d" || echo "nslab-vm: mounting $d failed"
fi
# A machine's lo is up: without it the host's own addresses do not
# answer the host (nslab check's host -> own bridge address).
chroot /mnt ip link set lo up || echo "nslab-vm: lo stays down"
cd /mnt
mount --move . /
exec chroot . /bin/sh /run/nslab-vm/stage2
`

// stage2 runs as the guest's init in the host's root: the kernel loads
// modules with the host's modprobe now.
func stage2(j Job) string {
	var b strings.Builder
	b.WriteString("echo /sbin/modprobe > /proc/sys/kernel/modprobe\n")
	b.WriteString("echo \"nslab-vm: start\"\n")
	if w := int(j.Watchdog.Seconds()); w > 0 {
		fmt.Fprintf(&b, "(sleep %d; echo \"nslab-vm: watchdog: the binary runs past %ds; the tasks blocked in the kernel:\"; "+
			"echo 8 > /proc/sys/kernel/printk; echo w > /proc/sysrq-trigger) &\n", w, w)
	}
	b.WriteString("/bin/sh /run/nslab-vm/run\n")
	b.WriteString("echo \"nslab-vm: exit $?\"\n")
	b.WriteString("/run/nslab-vm-bin/reboot -f\n")
	return b.String()
}

// guestTail keeps what explains a run that did not end: the first lines
// of a panic (go test's timeout names the tests that were running) and the
// guest's last lines.
type guestTail struct {
	panic []string
	last  []string
	n     int
}

func newGuestTail() *guestTail { return &guestTail{} }

const (
	panicLines = 30
	lastLines  = 80
)

func (g *guestTail) add(line string) {
	g.n++
	if len(g.panic) > 0 && len(g.panic) < panicLines || strings.HasPrefix(line, "panic: ") && len(g.panic) == 0 {
		g.panic = append(g.panic, line)
	}
	g.last = append(g.last, line)
	if len(g.last) > lastLines {
		g.last = g.last[1:]
	}
}

func (g *guestTail) String() string {
	var b strings.Builder
	if len(g.panic) > 0 {
		b.WriteString(strings.Join(g.panic, "\n") + "\n...\n")
	}
	if g.n > len(g.last) {
		fmt.Fprintf(&b, "(the last %d of %d lines)\n", len(g.last), g.n)
	}
	b.WriteString(strings.Join(g.last, "\n"))
	return b.String()
}

// initramfs writes the guest's initramfs for the job to path.
func (s *Setup) initramfs(path string, j Job) error {
	deps, err := readDeps(s.Modules)
	if err != nil {
		return err
	}
	want := bootModules
	if j.Tap != "" {
		want = append(slices.Clone(want), nicModules...)
	}
	mods, err := deps.order(want...)
	if err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	c := &cpioWriter{w: w}
	for _, d := range []string{"bin", "dev", "proc", "sys", "mnt", "m", "vm"} {
		c.dir(d)
	}
	c.char("dev/console", 5, 1)
	c.copyFile("bin/busybox", s.Busybox, 0o755)
	for _, a := range []string{"sh", "mount", "insmod", "mkdir", "cat", "chroot", "reboot", "uname", "echo"} {
		c.symlink("bin/"+a, "busybox")
	}
	c.file("init", 0o755, []byte(initScript))
	c.file("bin/modprobe-host", 0o755, []byte("#!/bin/sh\nexec chroot /mnt /sbin/modprobe \"$@\"\n"))
	c.file("vm/stage2", 0o755, []byte(stage2(j)))
	var order []string
	for i, m := range mods {
		name := fmt.Sprintf("%02d-%s", i, filepath.Base(m))
		c.copyFile("m/"+name, filepath.Join(s.Modules, m), 0o644)
		order = append(order, name)
	}
	c.file("m/order", 0o644, []byte(strings.Join(order, "\n")+"\n"))
	c.copyFile("vm/bin", j.Binary, 0o755)
	c.file("vm/run", 0o755, []byte(runScript(j)))
	c.file("vm/dir", 0o644, []byte(jobDir(j)))
	err = c.close()
	if err == nil {
		err = w.Flush()
	}
	return errors.Join(err, f.Close())
}

// runScript runs the job's binary in the guest's root, as root, in the
// job's directory, with a known environment.
func runScript(j Job) string {
	var b strings.Builder
	b.WriteString("cd " + quote(j.Dir) + " 2>/dev/null || cd /\n")
	env := []string{
		"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"HOME=/root", "TMPDIR=/tmp", InVM + "=1",
	}
	b.WriteString("exec env -i")
	for _, e := range append(env, j.Env...) {
		b.WriteString(" " + quote(e))
	}
	b.WriteString(" /run/nslab-vm/bin")
	for _, a := range j.Args {
		b.WriteString(" " + quote(a))
	}
	b.WriteString(" </dev/null 2>&1\n")
	return b.String()
}
