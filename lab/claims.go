package lab

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"github.com/nslab/nslab/internal/netnsdir"
	"github.com/nslab/nslab/plan"
	"github.com/nslab/nslab/topology"
	"golang.org/x/sys/unix"
)

// lockHost takes the host's lock, waiting while another lab checks its
// claims (a few milliseconds), until ctx is done; a wait says for whom.
func lockHost(ctx context.Context, opt *Options) (*os.File, error) {
	f, err := netnsdir.Lock(ctx, hostLockPath(), unix.LOCK_EX, func(holder string) {
		opt.logf("the host's lock is busy: %s holds it; waiting (Ctrl-C stops)", holder)
	})
	var we *netnsdir.WaitError
	if errors.As(err, &we) {
		return nil, fmt.Errorf("stopped while waiting for the host's lock, held by %s (%w): nothing was changed", we.Holder, we.Err)
	}
	if err != nil {
		return nil, fmt.Errorf("taking the host's lock: %w", err)
	}
	return f, nil
}

// releaseHostLock removes the host's lock file when no lab holds it: a
// waiter on the removed file takes a fresh one (see netnsdir.LockFile).
func releaseHostLock() {
	f, err := netnsdir.LockFile(hostLockPath(), unix.LOCK_EX|unix.LOCK_NB)
	if err != nil {
		return
	}
	os.Remove(hostLockPath())
	f.Close()
}

// otherClaims reads the claims of every other lab that has state.
func otherClaims(self string) (map[string]plan.Claims, error) {
	entries, err := os.ReadDir(StateDir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading lab state: %w", err)
	}
	out := map[string]plan.Claims{}
	for _, e := range entries {
		if !e.IsDir() || e.Name() == self || e.Name()[0] == '.' {
			continue
		}
		data, err := os.ReadFile(claimsFile(e.Name()))
		if err != nil {
			continue // a lab of an nslab before claims: the kernel shows its subnets
		}
		var c plan.Claims
		if json.Unmarshal(data, &c) == nil {
			out[e.Name()] = c
		}
	}
	return out, nil
}

// saveClaims records what the lab takes of the host.
func saveClaims(t *topology.Lab) error {
	data, err := json.Marshal(plan.ClaimsOf(t))
	if err != nil {
		return err
	}
	if err := os.MkdirAll(labDir(t.Name), 0o700); err != nil {
		return fmt.Errorf("saving lab state: %w", err)
	}
	tmp := claimsFile(t.Name) + ".new"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return fmt.Errorf("saving lab state: %w", err)
	}
	if err := os.Rename(tmp, claimsFile(t.Name)); err != nil {
		return fmt.Errorf("saving lab state: %w", err)
	}
	return nil
}

// publishedPorts lists the host ports the lab publishes.
func publishedPorts(t *topology.Lab) []uint16 {
	var out []uint16
	for _, n := range t.Nodes {
		for _, p := range n.Publish {
			out = append(out, uint16(p.HostPort))
		}
	}
	return out
}
