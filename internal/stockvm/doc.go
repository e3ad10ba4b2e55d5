// Package stockvm runs a compiled Go test binary inside a stock kernel
// (Debian's linux-image-amd64) under qemu, for the tests that need a
// kernel feature the host's kernel lacks: sch_netem, 8021q, bonding, vrf,
// dummy, ipvlan.
//
// One VM runs one binary: the guest boots the kernel with a small
// initramfs (a static busybox, the modules that mount the host's root,
// the binary itself), mounts the host's / read-only over 9p, puts fresh
// tmpfs on /run and /tmp, and runs the binary as root in its directory.
// The guest has no network device (-nic none): nothing in it reaches
// outside; the tests make their own namespaces and cables.
//
// Equivalent to, by hand:
//
//	qemu-system-x86_64 -accel tcg -nodefaults -nic none -no-reboot \
//	  -kernel /boot/vmlinuz-VER -initrd INITRAMFS -append 'console=ttyS0 quiet' \
//	  -virtfs local,path=/,mount_tag=host,security_model=none,readonly=on,multidevs=remap \
//	  -serial stdio
//
// cmd/nslab-vm wraps it for go test -exec; Test runs chosen tests of the
// calling test binary in the VM from a plain go test.
package stockvm
