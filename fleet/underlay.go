package fleet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/nslab/nslab/kernel"
	"github.com/nslab/nslab/topology"
)

// underlay reads, on the host, the interface that holds its address (the
// file's address:) and its MTU: what the segments between machines are
// sized by.
func (h *host) underlay(ctx context.Context) (topology.Underlay, error) {
	if !h.m.Address.IsValid() {
		return topology.Underlay{}, nil
	}
	if h.m.Local {
		u, err := kernel.UnderlayOf(h.m.Address)
		if err != nil {
			return topology.Underlay{}, fmt.Errorf("host %s (local): %w: address: must be one of this machine's", h.m.Name, err)
		}
		return topology.Underlay{Dev: u.Dev, MTU: u.MTU}, nil
	}
	out, errOut, err := h.sshSplit(ctx, nil, h.binary+" host-underlay "+h.m.Address.String())
	if err != nil {
		msg := strings.TrimPrefix(strings.TrimSpace(string(errOut)), "nslab: ")
		if msg == "" {
			msg = err.Error()
		}
		return topology.Underlay{}, fmt.Errorf("host %s (%s): %s", h.m.Name, h.m.Where(), msg)
	}
	var u topology.Underlay
	if err := json.Unmarshal(out, &u); err != nil {
		return u, fmt.Errorf("host %s (%s): reading its underlay: %v (%q)", h.m.Name, h.m.Where(), err, out)
	}
	return u, nil
}

// readUnderlays reads every host's underlay into the lab's machines, and
// computes every host's share there: a segment between machines whose
// written MTU their underlays cannot carry is refused before anything is
// sent to build (each MTU that is not written is lowered to fit).
func readUnderlays(ctx context.Context, t *topology.Lab, pl topology.Placement, hosts []*host) error {
	if err := each(hosts, func(h *host) error {
		u, err := h.underlay(ctx)
		h.m.Underlay = u
		return err
	}); err != nil {
		return err
	}
	seen := map[string]bool{}
	var errs []error
	for _, h := range hosts {
		_, err := topology.Share(t, pl, h.m.Name)
		var list interface{ Unwrap() []error }
		if errors.As(err, &list) {
			for _, e := range list.Unwrap() {
				if !seen[e.Error()] {
					seen[e.Error()] = true
					errs = append(errs, e)
				}
			}
		} else if err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
