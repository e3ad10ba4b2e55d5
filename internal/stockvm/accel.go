package stockvm

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"time"
)

// accel picks KVM only when a probe shows it works: on these machines
// /dev/kvm may exist while a KVM guest hangs. The probe boots the kernel
// with an empty initramfs under KVM and waits for the kernel to give up
// on it (it panics without init and, with panic=-1, the guest stops at
// once): a few seconds at most with a working KVM. NSLAB_VM_ACCEL=tcg or
// kvm skips the probe.
func (s *Setup) accel(ctx context.Context, dir string) string {
	switch a := os.Getenv("NSLAB_VM_ACCEL"); a {
	case "tcg", "kvm":
		return a
	}
	f, err := os.OpenFile("/dev/kvm", os.O_RDWR, 0)
	if err != nil {
		return "tcg"
	}
	f.Close()
	empty := filepath.Join(dir, "empty")
	c := &cpioWriter{}
	ef, err := os.Create(empty)
	if err != nil {
		return "tcg"
	}
	c.w = ef
	c.dir("dev")
	err = c.close()
	ef.Close()
	if err != nil {
		return "tcg"
	}
	ctx, cancel := context.WithTimeout(ctx, 6*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, s.Qemu, "-accel", "kvm", "-cpu", "host", "-m", "256",
		"-nodefaults", "-no-user-config", "-display", "none", "-nic", "none", "-no-reboot",
		"-kernel", s.Kernel, "-initrd", empty, "-append", "quiet panic=-1")
	if err := cmd.Run(); err != nil || ctx.Err() != nil {
		return "tcg"
	}
	return "kvm"
}
