package fleet

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/nslab/nslab/topology"
)

// goneHosts are the hosts of a running lab's record that the file no
// longer lists: their shares go once the others are up.
func goneHosts(prior *Record, t *topology.Lab) []HostRecord {
	if prior == nil {
		return nil
	}
	var gone []HostRecord
	for _, hr := range prior.Hosts {
		if t.Machine(hr.Name) == nil {
			gone = append(gone, hr)
		}
	}
	return gone
}

// finishUp removes the lab from the hosts the file no longer lists and
// records the lab as built; a host that cannot be reached stays in the
// record, named in the error, for the next up or down.
func finishUp(ctx context.Context, rec, prior *Record, gone []HostRecord, opt Options) error {
	var errs []error
	for _, hr := range gone {
		h, done, err := remoteHost(rec, hr, &opt)
		if err == nil {
			opt.logf("host %s (%s) is no longer in the file: removing lab %s from it", hr.Name, h.m.Where(), rec.Lab)
			err = h.down(ctx, rec.Lab)
			done()
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%w\n  host %s keeps what it holds of lab %s: %s", err, hr.Name, rec.Lab, keeps(prior, hr.Name)))
			continue
		}
		rec.Hosts = slices.DeleteFunc(rec.Hosts, func(r HostRecord) bool { return r.Name == hr.Name })
	}
	rec.Built = true
	if err := writeRecord(rec); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return fmt.Errorf("lab %s is up on the hosts of the file, but a host it no longer lists still has its share (nslab up or nslab down %s tries again; nslab down --forget HOST %s drops it):\n%w",
			rec.Lab, rec.Lab, rec.Lab, errors.Join(errs...))
	}
	return nil
}

// changeFailed is the error of an up that changed a running lab and
// failed on some hosts: the lab is not removed (it ran before the
// change); what every host did is said.
func changeFailed(rec *Record, err error) error {
	rec.Built = true
	if werr := writeRecord(rec); werr != nil {
		err = errors.Join(err, werr)
	}
	return fmt.Errorf("lab %s: changing the running lab failed:\n%w\n(the lab still runs: hosts not named above have the change; nslab up again finishes it, nslab status %s shows each host's share, nslab down %s removes the lab)",
		rec.Lab, err, rec.Lab, rec.Lab)
}
