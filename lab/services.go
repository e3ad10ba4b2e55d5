package lab

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/user"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nslab/nslab/kernel"
	"github.com/nslab/nslab/plan"
	"github.com/nslab/nslab/service"
	"github.com/nslab/nslab/topology"
)

// The services of a lab's nodes (topology.Service), run and watched by
// the lab's supervisor (package service).

// hasServices reports whether any node of t runs a service.
func hasServices(t *topology.Lab) bool {
	return slices.ContainsFunc(t.Nodes, func(n *topology.Node) bool { return len(n.Services) > 0 })
}

// serviceSpec is what the lab's supervisor must run for t, whose nodes
// exist. A service's digest covers its definition and its node's
// namespace (the inode): a node made anew restarts its services.
func serviceSpec(t *topology.Lab, opt *Options) (service.Spec, error) {
	spec := service.Spec{Lab: t.Name, Generation: time.Now().UnixNano(), Holder: UTSHolder(t.Name),
		EtcFiles: []string{HostsFile(t.Name), ResolvFile(t.Name)}, Backoff: opt.ServiceBackoff, LogCap: opt.ServiceLogCap}
	for _, n := range t.Nodes {
		ns := plan.NetnsName(t.Name, n.Name)
		ino, err := kernel.NetnsInode(ns)
		if err != nil && len(n.Services) > 0 {
			return spec, fmt.Errorf("%s: node %s: %w", n.Pos, n.Name, err)
		}
		for _, s := range n.Services {
			d := service.Def{Node: n.Name, Name: s.Name, Netns: ns, Command: s.Command, Env: s.Env,
				Dir: s.Dir, User: s.User, Restart: cmpOr(s.Restart, topology.RestartNo),
				StopSignal: s.StopSignal, StopGrace: s.StopGrace}
			if r := s.Ready; r != nil {
				d.Ready = &service.Ready{TCP: r.TCP, HTTP: r.HTTP, Command: r.Command, Timeout: r.Timeout, Interval: r.Interval}
			}
			for _, a := range s.After {
				d.After = append(d.After, a.String())
			}
			b, _ := json.Marshal(d)
			sum := sha256.Sum256(fmt.Appendf(b, "\x00%d", ino))
			d.Digest = hex.EncodeToString(sum[:8])
			spec.Services = append(spec.Services, d)
		}
	}
	return spec, nil
}

func cmpOr(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// nodeDirs makes the own directories of t's nodes that run services
// (service.NodeDir), owned by the user of the node's services when they
// have one, and removes those of nodes that no longer run any.
func nodeDirs(t *topology.Lab) error {
	if !hasServices(t) {
		return removeNodeDirs(t.Name, t)
	}
	for _, d := range []string{service.NodesDir(), service.LabNodesDir(t.Name)} {
		if err := os.MkdirAll(d, 0o711); err != nil {
			return fmt.Errorf("lab %s: making %s: %w", t.Name, d, err)
		}
		if err := os.Chmod(d, 0o711); err != nil {
			return fmt.Errorf("lab %s: %w", t.Name, err)
		}
	}
	for _, n := range t.Nodes {
		if len(n.Services) == 0 {
			continue
		}
		dir := service.NodeDir(t.Name, n.Name)
		if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
			return fmt.Errorf("%s: node %s: making its directory %s: %w", n.Pos, n.Name, dir, err)
		}
		for _, s := range n.Services {
			if s.User == "" {
				continue
			}
			uid, gid, err := lookupIDs(s.User)
			if err != nil {
				return fmt.Errorf("%s: service %s: user %s: %w", s.Pos, s.Ref(), s.User, err)
			}
			if err := os.Chown(dir, uid, gid); err != nil {
				return fmt.Errorf("%s: node %s: %w", n.Pos, n.Name, err)
			}
			break
		}
	}
	return removeNodeDirs(t.Name, t)
}

// lookupIDs resolves a user name or numeric uid.
func lookupIDs(name string) (uid, gid int, err error) {
	u, err := user.Lookup(name)
	if err != nil {
		n, nerr := strconv.Atoi(name)
		if nerr != nil {
			return 0, 0, err
		}
		if u, err = user.LookupId(name); err != nil {
			return n, n, nil
		}
	}
	uid, _ = strconv.Atoi(u.Uid)
	gid, _ = strconv.Atoi(u.Gid)
	return uid, gid, nil
}

// removeNodeDirs removes the node directories of lab that t does not
// keep (all of them for a nil t), and the lab's and NodesDir when empty.
func removeNodeDirs(lab string, t *topology.Lab) error {
	var errs []error
	entries, _ := os.ReadDir(service.LabNodesDir(lab))
	for _, e := range entries {
		if t != nil {
			if n := t.Node(e.Name()); n != nil && len(n.Services) > 0 {
				continue
			}
		}
		if err := os.RemoveAll(service.NodeDir(lab, e.Name())); err != nil {
			errs = append(errs, err)
		}
	}
	os.Remove(service.LabNodesDir(lab))
	os.Remove(service.NodesDir())
	return errors.Join(errs...)
}

// upServices hands the lab's services to its supervisor and waits until
// they are ready (or one fails: a *service.NotReadyError), once the
// network is built.
func upServices(ctx context.Context, t *topology.Lab, opt *Options) error {
	start := time.Now()
	if err := nodeDirs(t); err != nil {
		return err
	}
	spec, err := serviceSpec(t, opt)
	if err != nil {
		return err
	}
	opt.timing("svc spec", len(spec.Services), time.Since(start))
	start = time.Now()
	if err := service.Apply(ctx, spec); err != nil {
		return err
	}
	opt.timing("svc apply", len(spec.Services), time.Since(start))
	if len(spec.Services) == 0 {
		return nil
	}
	start = time.Now()
	err = service.WaitReady(ctx, t.Name, spec.Generation)
	opt.timing("svc ready", len(spec.Services), time.Since(start))
	if err != nil {
		return locateService(t, err)
	}
	return nil
}

// locateService puts the file's position of a service that failed in
// front of its error.
func locateService(t *topology.Lab, err error) error {
	var ne *service.NotReadyError
	if !errors.As(err, &ne) {
		return err
	}
	node, name, _ := strings.Cut(ne.Service, "/")
	if n := t.Node(node); n != nil {
		for _, s := range n.Services {
			if s.Name == name && s.Pos.Line > 0 {
				return &locatedError{msg: fmt.Sprintf("%s: %s", s.Pos, err), err: err}
			}
		}
	}
	return err
}

// stopServicesIn stops the services of the lab that run in the
// namespaces spaces (nodes that a change removes or makes anew) through
// its supervisor, before their processes are ended: it would restart
// them otherwise.
func stopServicesIn(ctx context.Context, lab string, spaces []string) error {
	return service.StopIn(ctx, lab, spaces)
}

// The services' files follow StateDir (a test or a library user may move
// it).
func init() { service.StateDir = func() string { return StateDir } }
