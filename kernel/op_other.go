//go:build !linux

package kernel

// applier is empty where nslab cannot change the kernel: Ops are planned
// and rendered only.
type applier interface{}
