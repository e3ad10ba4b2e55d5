package lab

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/nslab/nslab/internal/netnsdir"
	"github.com/nslab/nslab/topology"
)

// Envelope is what the machine that brings up a lab across machines
// sends each of its hosts: the file as written, the placement and the
// addresses it chose, so that every host computes the same lab, and the
// host whose share to build.
type Envelope struct {
	File   string `json:"file"`
	Source []byte `json:"source"`
	topology.ShareSpec
}

// Share is the host's share of the lab the envelope carries (see
// topology.Share), parsed with the sender's addresses.
func (e *Envelope) Share() (*topology.Lab, error) {
	t, err := topology.ParseWith(e.File, e.Source, e.Assigned)
	if err != nil {
		return nil, err
	}
	t.Name = e.Lab
	t.SetUnderlays(e.Underlays)
	if !t.MultiHost() {
		return nil, fmt.Errorf("lab %s: the file %s sent for host %s has no hosts:", e.Lab, e.File, e.Host)
	}
	for n, h := range e.Placement {
		if t.Node(n) == nil || t.Machine(h) == nil {
			return nil, fmt.Errorf("lab %s: the placement sent puts node %q on host %q, which the file does not have", e.Lab, n, h)
		}
	}
	for _, n := range t.Nodes {
		if _, ok := e.Placement[n.Name]; !ok {
			return nil, fmt.Errorf("lab %s: the placement sent does not place node %s", e.Lab, n.Name)
		}
	}
	return topology.Share(t, e.Placement, e.Host)
}

func shareFile(name string) string { return filepath.Join(labDir(name), "share.json") }

// saveShare keeps a share's envelope beside its file, so that the lab's
// saved topology is read back as the share (parseSaved).
func saveShare(t *topology.Lab) error {
	if t.ShareOf == nil {
		return nil
	}
	data, err := json.Marshal(t.ShareOf)
	if err != nil {
		return err
	}
	return writeAtomic(shareFile(t.Name), data)
}

// parseSaved parses a running lab's saved file with the addresses chosen
// before; a host's share of a lab across machines is read back as that
// share.
func parseSaved(name, path string, data []byte) (*topology.Lab, error) {
	raw, err := os.ReadFile(shareFile(name))
	if errors.Is(err, os.ErrNotExist) {
		t, err := topology.ParseWith(path, data, savedAssignments(name))
		if err != nil {
			return nil, err
		}
		t.Name = name
		return t, nil
	}
	if err != nil {
		return nil, err
	}
	var e Envelope
	if err := json.Unmarshal(raw, &e); err != nil {
		return nil, fmt.Errorf("lab %s: reading %s: %w", name, shareFile(name), err)
	}
	e.Source, e.File = data, path
	return e.Share()
}

// Whole is the whole lab a running share on this machine is part of (a
// lab across machines), with the share's spec: what every machine checks
// its own nodes' probes against.
func Whole(name string) (*topology.Lab, *topology.ShareSpec, error) {
	data, err := os.ReadFile(topologyFile(name))
	if err != nil {
		return nil, nil, fmt.Errorf("lab %s is not running here (no %s)", name, topologyFile(name))
	}
	raw, err := os.ReadFile(shareFile(name))
	if err != nil {
		return nil, nil, fmt.Errorf("lab %s here is not a share of a lab across machines (no %s)", name, shareFile(name))
	}
	var spec topology.ShareSpec
	if err := json.Unmarshal(raw, &spec); err != nil {
		return nil, nil, fmt.Errorf("lab %s: reading %s: %w", name, shareFile(name), err)
	}
	t, err := topology.ParseWith(topologyFile(name), data, spec.Assigned)
	if err != nil {
		return nil, nil, err
	}
	t.Name = name
	return t, &spec, nil
}

func shareLockPath(name string) string { return filepath.Join(StateDir, ".locks", name+".share") }

// HoldShare takes the lock of a host's build of its share of a lab across
// machines (nslab host-apply), first thing, before the share is read: Down
// waits for it, so that a down sent after the machine running up was
// killed cannot pass a build already started on this host and leave what
// it makes. release removes the lock.
func HoldShare(ctx context.Context, name string) (release func(), err error) {
	if err := topology.ValidLabName(name); err != nil {
		return nil, err
	}
	if err := netnsdir.Private(StateDir); err != nil {
		return nil, fmt.Errorf("lab %s: %w", name, err)
	}
	f, err := netnsdir.Lock(ctx, shareLockPath(name), unix.LOCK_EX, nil)
	if err != nil {
		return nil, fmt.Errorf("lab %s: %w", name, err)
	}
	return func() { os.Remove(shareLockPath(name)); f.Close() }, nil
}

// awaitShareBuild waits until no build of a share of the lab runs here.
func awaitShareBuild(ctx context.Context, name string) error {
	if _, err := os.Stat(shareLockPath(name)); err != nil {
		return nil
	}
	release, err := HoldShare(ctx, name)
	if err != nil {
		return err
	}
	release()
	return nil
}
