package lab

import (
	"fmt"
	"strings"

	"github.com/nslab/nslab/kernel"
	"github.com/nslab/nslab/topology"
)

// The checks of a lab against this kernel, before anything is built.

// checkSysctls finds the nodes' settings that this kernel does not have,
// before anything is built: a typo or a missing module is reported at its
// line instead of failing the build part-way. A per-interface setting is
// looked up under default, which every interface copies.
//
// A setting the kernel keeps once for the whole machine (net.core.rmem_max,
// net.netfilter.nf_conntrack_max) is refused too: a node's namespace does
// not have it or cannot write it. Whether a key is per namespace is
// probed in a throwaway namespace, once per up and only when the lab
// sets sysctls.
func checkSysctls(t *topology.Lab) error {
	known := map[string]bool{}
	var errs topology.ErrorList
	var probe []string
	var asked []topology.Sysctl // known here, to probe in a namespace
	for _, n := range t.Nodes {
		for _, s := range n.Sysctls {
			key := sysctlProbeKey(s.Key)
			ok, seen := known[key]
			if !seen {
				ok = kernel.SysctlKnown(key)
				known[key] = ok
				if ok {
					probe = append(probe, key)
				}
			}
			if !ok {
				errs = append(errs, &topology.Error{Pos: s.Pos, Msg: "sysctl " + s.Key + ": this kernel has no such setting (no /proc/sys/" +
					strings.ReplaceAll(key, ".", "/") + "); check the name, or load the kernel module that provides it"})
				continue
			}
			asked = append(asked, s)
		}
	}
	if len(probe) > 0 {
		perNS, err := kernel.SysctlsPerNamespace(probe)
		if err != nil {
			return err
		}
		for _, s := range asked {
			if !perNS[sysctlProbeKey(s.Key)] {
				errs = append(errs, &topology.Error{Pos: s.Pos, Msg: "sysctl " + s.Key +
					": this setting is host-wide (the kernel keeps one value for the whole machine, read-only or absent in a node's namespace), so it cannot be set per node; remove it, or set it on the host with sysctl -w"})
			}
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return errs
}

// sysctlProbeKey is the key to look up for a setting: a per-interface one
// under default, which every interface copies.
func sysctlProbeKey(key string) string {
	if dev, ok := topology.SysctlDev(key); ok {
		f := strings.SplitN(key, ".", 5)
		f[3] = "default"
		if dev == "all" || dev == "lo" {
			f[3] = dev
		}
		key = strings.Join(f, ".")
	}
	return key
}

// checkShapes finds the shapes this kernel cannot make, before anything
// is built: delay, jitter, duplicate, reorder and corrupt need the netem
// qdisc, a rate tbf; a loss is netem's where the kernel has it and
// otherwise an nftables rule (see lossByNft).
func checkShapes(t *topology.Lab) error {
	var errs topology.ErrorList
	for _, l := range t.Links {
		for _, s := range l.Shapes() {
			kind, what := "tbf", "a rate"
			switch {
			case netemBeyondLoss(s):
				kind, what = "netem", "delay, jitter, duplicate, reorder and corrupt"
			case s.Rate == 0:
				continue // a loss alone: netem's, or nftables' without it
			}
			if err := kernel.QdiscSupported(kind); err != nil {
				msg := fmt.Sprintf("shape: %s need the %s qdisc, which this kernel lacks (%v): %s", what, kind, err,
					kernel.ModuleAdvice("sch_"+kind, "CONFIG_NET_SCH_"+strings.ToUpper(kind)))
				if kind == "netem" {
					msg += ", or shape the rate and loss alone (a loss without netem is drawn by nftables)"
				}
				errs = append(errs, &topology.Error{Pos: s.Pos, Msg: msg})
			}
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return errs
}

// checkKinds finds the interface kinds this kernel cannot make, before
// anything is built: each kind is tried once in a throwaway namespace,
// and the first interface of a missing kind is refused at its kind.
// checkMachines refuses a whole lab across machines: Up builds one
// machine's share of it (topology.Share); package fleet sends each host
// its share.
func checkMachines(t *topology.Lab) error {
	if !t.MultiHost() || t.ShareOf != nil {
		return nil
	}
	return &topology.Error{Pos: t.Machines[0].Pos, Msg: fmt.Sprintf(
		"lab %s spans %d hosts (hosts:): a lab across machines is brought up by nslab up %s, which sends each host its share "+
			"(package fleet); this builds one machine's share only",
		t.Name, len(t.Machines), t.File)}
}

func checkKinds(t *topology.Lab) error {
	var errs topology.ErrorList
	seen := map[string]bool{}
	for _, n := range t.Nodes {
		for _, i := range n.Interfaces {
			if i.IsCable() || seen[i.Kind] {
				continue
			}
			seen[i.Kind] = true
			if err := kernel.IfaceSupported(i.Kind); err != nil {
				errs = append(errs, &topology.Error{Pos: i.KindPos, Msg: fmt.Sprintf("%s: kind %s: %v", i.Ref(), i.Kind, err)})
			}
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return errs
}
