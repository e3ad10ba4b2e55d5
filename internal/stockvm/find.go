package stockvm

import (
	"debug/elf"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
)

// Setup is what a VM is made of on this machine.
type Setup struct {
	Qemu    string // qemu-system-x86_64
	Kernel  string // /boot/vmlinuz-VERSION
	Version string // the kernel's release, as uname -r says it in the guest
	Modules string // /lib/modules/VERSION
	Busybox string // a statically linked busybox
}

// install is what to run for what Find misses.
const install = "apt-get install qemu-system-x86 linux-image-amd64 busybox-static"

// Find looks for qemu, a stock kernel with its modules and a static
// busybox. NSLAB_VM_KERNEL names a kernel image to use instead of the
// newest /boot/vmlinuz-* that has modules. The error says what is missing
// and what to install.
func Find() (*Setup, error) {
	var s Setup
	var errs []error
	q, err := exec.LookPath("qemu-system-x86_64")
	if err != nil {
		errs = append(errs, errors.New("no qemu-system-x86_64 on PATH"))
	}
	s.Qemu = q
	if err := s.findKernel(); err != nil {
		errs = append(errs, err)
	}
	if err := s.findBusybox(); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("no stock-kernel VM here: %w (%s)", errors.Join(errs...), install)
	}
	return &s, nil
}

func (s *Setup) findKernel() error {
	images := []string{os.Getenv("NSLAB_VM_KERNEL")}
	if images[0] == "" {
		images, _ = filepath.Glob("/boot/vmlinuz-*")
		sort.Sort(sort.Reverse(sort.StringSlice(images)))
	}
	for _, img := range images {
		ver := strings.TrimPrefix(filepath.Base(img), "vmlinuz-")
		mods := filepath.Join("/lib/modules", ver)
		if _, err := os.Stat(filepath.Join(mods, "modules.dep")); err != nil {
			continue
		}
		if _, err := os.Stat(img); err != nil {
			continue
		}
		s.Kernel, s.Version, s.Modules = img, ver, mods
		return nil
	}
	if len(images) == 0 {
		return errors.New("no kernel image /boot/vmlinuz-*")
	}
	return fmt.Errorf("no kernel image with modules in /lib/modules among %s", strings.Join(images, ", "))
}

func (s *Setup) findBusybox() error {
	for _, p := range []string{"/bin/busybox", "/usr/bin/busybox"} {
		if static(p) {
			s.Busybox = p
			return nil
		}
	}
	return errors.New("no statically linked busybox (/bin/busybox)")
}

// static reports whether path is an ELF executable without an interpreter.
func static(path string) bool {
	f, err := elf.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return false
		}
	}
	return true
}
