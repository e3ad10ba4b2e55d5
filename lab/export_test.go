package lab

import "github.com/nslab/nslab/kernel"

// SetReadMachine makes the lab read the machine through f, which gets
// the real reader; it returns what puts the real one back. For tests of
// package lab_test: lab's own tests cannot import nslabtest, which
// imports lab.
func SetReadMachine(f func(real func(bool) kernel.Machine, counts bool) kernel.Machine) (restore func()) {
	real := readMachine
	readMachine = func(counts bool) kernel.Machine { return f(real, counts) }
	return func() { readMachine = real }
}
