//go:build !linux

package check

import (
	"context"
	"errors"
	"sync"
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

func openFiles() int { return 1024 }

// burst is only implemented on Linux: every probe fails.
func (r *Report) burst(ctx context.Context, idx []int, nsPath func(string) string, opt Options, _ *primer) ([]error, bool) {
	return r.probeWave(ctx, idx, nsPath, opt), true
}

// probeWave probes the given probes, opt.Workers source nodes at once.
func (r *Report) probeWave(ctx context.Context, idx []int, nsPath func(string) string, opt Options) []error {
	groups := bySource(r.Probes, idx)
	errs := make([]error, len(groups))
	jobs := make(chan int)
	var wg sync.WaitGroup
	for range min(opt.Workers, len(groups)) {
		wg.Go(func() {
			for g := range jobs {
				errs[g] = r.probeGroup(ctx, groups[g], nsPath, opt)
			}
		})
	}
	for g := range groups {
		jobs <- g
	}
	close(jobs)
	wg.Wait()
	return errs
}
