//go:build !linux

package check

import (
	"context"
	"errors"
)

var errNotLinux = errors.New("pinging from a network namespace needs Linux")

// Ping is only implemented on Linux; elsewhere every target fails.
func Ping(ctx context.Context, nsPath string, targets []Target, opt Options) []Result {
	res, _ := ping(ctx, nsPath, targets, opt)
	return res
}

func ping(ctx context.Context, nsPath string, targets []Target, opt Options) ([]Result, error) {
	res := make([]Result, len(targets))
	for i, t := range targets {
		res[i] = Result{Target: t, Err: errNotLinux.Error()}
	}
	return res, errNotLinux
}

func forgetNeighbours(string) error { return errNotLinux }

// primer is only implemented on Linux.
type primer struct{}

func newPrimer(*world, func(string) string) *primer { return nil }
func (*primer) wave([]primeEntry, int)              {}
func (*primer) forget(string) error                 { return errNotLinux }
func (*primer) close()                              {}
