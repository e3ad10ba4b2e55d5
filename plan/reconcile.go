package plan

import (
	"errors"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"slices"
	"strings"

	"github.com/nslab/nslab/kernel"
	"github.com/nslab/nslab/topology"
)

// Reconcile plans the change of a running lab to lab. old is the topology
// the lab was last built from, which nslab keeps as a hint of what is
// inside the nodes; st is the machine as observed, which is the truth for
// everything in the root namespace and for which namespaces exist.
//
// Objects the change does not touch are left alone: an untouched node
// keeps its namespace and its processes. A link whose ends change (MTU,
// MAC, bridge) is made anew; a node is made anew only when it is new, its
// namespace is missing, or one of its own sysctls left the file (the
// kernel's default cannot be restored otherwise). Addresses, routes and
// sysctls change in place. Objects of the lab that the kernel lacks are
// made again; objects of the lab that the file no longer has are
// removed; objects that are not the lab's are never touched, and a name
// the lab needs that something else holds is an error before any change.
//
// Drift is repaired as well (see drift.go): kept objects that the kernel
// shows otherwise than the file says are put back, in the root namespace
// always, in a node when st observed it in full. hints (optional) add
// what nslab's state says besides old.
func Reconcile(old, lab *topology.Lab, st *kernel.State, hints ...Hints) (*Plan, error) {
	r := &reconciler{old: old, lab: lab, st: st, name: lab.Name,
		remakeNode: map[string]bool{}, remakeLink: map[*topology.Link]bool{}, remakeBridge: map[string]bool{}, dropped: map[string]bool{}, remadeIfaces: map[string]bool{}}
	var h Hints
	if len(hints) > 0 {
		h = hints[0]
	}
	r.cut = h.Faults.cutEnds(lab)
	r.shaped = h.Faults.ShapedLinks(lab)
	if h.Faults != nil {
		r.partition, r.blocks = h.Faults.Partition, h.Faults.Blocks
	}
	r.stray = r.strayLinks(h.Interrupted)
	r.nodes()
	r.bridges()
	r.taps()
	r.tunnels()
	r.links()
	r.kinds()
	if err := r.clashes(); err != nil {
		return nil, err
	}
	return r.plan(), nil
}

type reconciler struct {
	old, lab *topology.Lab
	st       *kernel.State
	name     string

	remakeNode   map[string]bool // nodes (re)created, by name
	partition    [][]string      // the partition in force (Faults), none when whole
	blocks       []Block         // the one-way blocks in force (Faults)
	remakeLink   map[*topology.Link]bool
	remakeBridge map[string]bool
	dropped      map[string]bool         // root links (bridges too) deleted, by kernel name
	cut          map[string]bool         // ends held down by cuts in force: ns "\x00" name
	shaped       map[*topology.Link]bool // cables shaped at runtime (Faults): their shapes are kept
	stray        map[string]bool         // root links a killed nslab left without their mark
	keepTaps     map[string]bool         // taps and tunnels kept, by kernel name
	tapsAdd      []kernel.Op             // taps and tunnels made (anew)
	tapsIPv6     []string                // their names
	vlanSets     []kernel.Op             // VLANs of kept ports, trunks and bridges changed
	remadeIfaces map[string]bool         // kept nodes with interfaces made anew inside them (kinds)
	ifaces       []kernel.Op             // interfaces made inside kept nodes

	// the operations, by stage
	routesDel, addrsDel, linksDel, bridgesDel, nsDel []kernel.Op
	linksSet, sysctls, addrsAdd, shapes, routesAdd   []kernel.Op
}

func (r *reconciler) mark(kind, name string) string { return kernel.Marker(r.name, kind, name) }

// ours reports whether a namespace is there and marked as this lab's node.
func (r *reconciler) nsOurs(node string) bool {
	m, ok := r.st.Namespaces[NetnsName(r.name, node)]
	return ok && (m == r.mark(kernel.KindNode, node) || m == kernel.Unknown && r.old.Node(node) != nil)
}

// rootOurs reports whether a root link of the lab is there, by kernel name.
func (r *reconciler) rootOurs(name, mark string) bool {
	l, ok := r.st.Links[name]
	return ok && l.Alias == mark
}

func (r *reconciler) nodes() {
	for _, n := range r.lab.Nodes {
		o := r.old.Node(n.Name)
		if o == nil || !r.nsOurs(n.Name) || userSysctlRemoved(o, n) {
			r.remakeNode[n.Name] = true
			if r.nsOurs(n.Name) || r.st.Stale[NetnsName(r.name, n.Name)] {
				r.nsDel = append(r.nsDel, &kernel.NetnsDel{Name: NetnsName(r.name, n.Name)})
			}
			continue
		}
		if (o.HostnameOf() != n.HostnameOf() || r.st.NoUTSHolder) && r.st.UTSHolder != "" {
			r.sysctls = append(r.sysctls, &kernel.HostnameSet{NS: NetnsName(r.name, n.Name),
				Holder: r.st.UTSHolder, Node: n.Name, Hostname: n.HostnameOf()})
		}
		if obs := r.observed(n.Name); obs != nil {
			r.sysctlDrift(o, n, obs)
			if lo, ok := obs.Links["lo"]; ok && !lo.Up {
				r.addrsAdd = append(r.addrsAdd, &kernel.LinkSetup{NS: NetnsName(r.name, n.Name), Name: "lo"})
			}
		} else if set := sysctlChanges(o, n); len(set) > 0 {
			r.sysctls = append(r.sysctls, &kernel.SysctlSet{NS: NetnsName(r.name, n.Name), Settings: set})
		}
	}
	// Namespaces of the lab that the file no longer has: nodes of the old
	// file (inspected or not), and namespaces marked as the lab's nodes.
	for _, ns := range sortedKeys(r.st.Namespaces) {
		m := r.st.Namespaces[ns]
		lab, kind, node, ok := kernel.ParseMarker(m)
		if !ok && m == kernel.Unknown {
			node, ok, lab, kind = strings.TrimPrefix(ns, NetnsName(r.name, "")), r.old.Node(strings.TrimPrefix(ns, NetnsName(r.name, ""))) != nil, r.name, kernel.KindNode
		}
		if ok && lab == r.name && kind == kernel.KindNode && r.lab.Node(node) == nil && ns == NetnsName(r.name, node) {
			r.nsDel = append(r.nsDel, &kernel.NetnsDel{Name: ns, Holder: r.st.UTSHolder, Node: node})
		}
	}
}

// effectiveSysctls is what a node's namespace is given (see namespaceOps
// and sysctlOps), by key.
func effectiveSysctls(n *topology.Node) map[string]string {
	m := map[string]string{}
	for _, s := range nodeSysctls {
		m[s.Key] = s.Value
	}
	if n.Router {
		for _, s := range routerSysctls {
			m[s.Key] = s.Value
		}
	}
	for _, s := range n.Sysctls {
		m[s.Key] = s.Value
	}
	return m
}

// userSysctlRemoved reports whether a sysctl of the file left the node.
func userSysctlRemoved(o, n *topology.Node) bool {
	now := effectiveSysctls(n)
	for _, s := range o.Sysctls {
		if _, ok := now[s.Key]; !ok {
			return true
		}
	}
	return false
}

// sysctlChanges lists the settings that differ; a router that is one no
// more gets forwarding turned off.
func sysctlChanges(o, n *topology.Node) []kernel.Sysctl {
	was, now := effectiveSysctls(o), effectiveSysctls(n)
	var out []kernel.Sysctl
	for _, k := range sortedKeys(now) {
		if was[k] != now[k] {
			out = append(out, kernel.Sysctl{Key: k, Value: now[k]})
		}
	}
	for _, s := range routerSysctls {
		if _, ok := now[s.Key]; !ok && was[s.Key] != "" {
			out = append(out, kernel.Sysctl{Key: s.Key, Value: "0"})
		}
	}
	return out
}

func (r *reconciler) bridges() {
	for _, b := range r.lab.Bridges {
		name := BridgeName(r.name, b.Name)
		o := r.old.Bridge(b.Name)
		if o == nil || o.MTU != b.MTU || o.VLANFiltering != b.VLANFiltering || !r.rootOurs(name, r.mark(kernel.KindBridge, b.Name)) {
			r.remakeBridge[b.Name] = true
			if r.rootOurs(name, r.mark(kernel.KindBridge, b.Name)) {
				r.bridgesDel = append(r.bridgesDel, &kernel.LinkDel{Name: name})
				r.dropped[name] = true
			}
			continue
		}
		r.rootAddrs(name, b.Addresses)
		r.bridgeDrift(b)
		if op := selfVLANs(r.name, b, o); op != nil {
			r.vlanSets = append(r.vlanSets, op)
		}
	}
	for _, name := range sortedKeys(r.st.Links) {
		lab, kind, br, ok := kernel.ParseMarker(r.st.Links[name].Alias)
		if ok && lab == r.name && kind == kernel.KindBridge && r.lab.Bridge(br) == nil {
			r.bridgesDel = append(r.bridgesDel, &kernel.LinkDown{Name: name}, &kernel.LinkDel{Name: name})
			r.dropped[name] = true
		}
	}
}

// rootAddrs brings the global addresses of a root link of the lab to
// want, against what the kernel has.
func (r *reconciler) rootAddrs(link string, want []netip.Prefix) {
	var have []netip.Prefix
	for _, a := range r.st.Addrs {
		if a.Link == link {
			have = append(have, a.Prefix)
		}
	}
	r.addrDiff("", link, have, want)
}

func (r *reconciler) addrDiff(ns, dev string, have, want []netip.Prefix) {
	var add []netip.Prefix
	for _, a := range want {
		if !slices.Contains(have, a) {
			add = append(add, a)
		}
	}
	for _, a := range have {
		if !slices.Contains(want, a) {
			r.addrsDel = append(r.addrsDel, &kernel.AddrDel{NS: ns, Name: dev, Addr: a})
		}
	}
	if len(add) > 0 {
		r.addrsAdd = append(r.addrsAdd, &kernel.LinkSetup{NS: ns, Name: dev, Addresses: add})
	}
}

// linkKey identifies a cable across two versions of a file.
func linkKey(l *topology.Link) string {
	switch l.Kind {
	case topology.Port:
		return "port " + l.A.Ref() + " " + l.Bridge.Name
	case topology.Trunk:
		return "trunk " + l.Bridge.Name + " " + l.Uplink.Name
	}
	a, b := l.A.Ref(), l.B.Ref()
	if b < a {
		a, b = b, a
	}
	return "peer " + a + " " + b
}

// sameEnds reports whether two versions of a cable are built alike.
func sameEnds(o, n *topology.Link) bool {
	end := func(x, y *topology.Interface) bool {
		return x.MTU == y.MTU && x.MAC.String() == y.MAC.String()
	}
	switch n.Kind {
	case topology.Trunk:
		return max(o.Bridge.MTU, o.Uplink.MTU) == max(n.Bridge.MTU, n.Uplink.MTU)
	case topology.Port:
		return end(o.A, n.A)
	}
	oa, ob := o.A, o.B
	if oa.Ref() != n.A.Ref() {
		oa, ob = ob, oa
	}
	return end(oa, n.A) && end(ob, n.B)
}

// rootEnds lists the kernel names and marks of a cable's ends in the root
// namespace.
func (r *reconciler) rootEnds(l *topology.Link) (names, marks []string) {
	switch {
	case l.Kind == topology.Port:
		return []string{PortName(r.name, l.A.Node, l.A.Name)}, []string{r.mark(kernel.KindPort, l.A.Ref())}
	case l.Kind == topology.Trunk:
		m := r.mark(kernel.KindTrunk, l.Bridge.Name)
		return []string{TrunkName(r.name, l.Bridge.Name, "a"), TrunkName(r.name, l.Bridge.Name, "b")}, []string{m, m}
	case l.A.OnHost():
		return []string{HostIfName(r.name, l.A.Name)}, []string{r.mark(kernel.KindHost, l.A.Name)}
	case l.B.OnHost():
		return []string{HostIfName(r.name, l.B.Name)}, []string{r.mark(kernel.KindHost, l.B.Name)}
	}
	return nil, nil
}

// touches reports whether a cable ends at a node or bridge made anew.
func (r *reconciler) touches(l *topology.Link) bool {
	for _, i := range []*topology.Interface{l.A, l.B} {
		if i != nil && !i.OnHost() && r.remakeNode[i.Node] {
			return true
		}
	}
	if l.Bridge != nil && r.remakeBridge[l.Bridge.Name] {
		return true
	}
	return l.Uplink != nil && r.remakeBridge[l.Uplink.Name]
}

func (r *reconciler) links() {
	oldLinks := map[string]*topology.Link{}
	for _, l := range r.old.Links {
		oldLinks[linkKey(l)] = l
	}
	newKeys := map[string]bool{}
	for _, l := range r.lab.Links {
		key := linkKey(l)
		newKeys[key] = true
		o := oldLinks[key]
		names, marks := r.rootEnds(l)
		present := r.nodeEndsThere(l)
		for i := range names {
			present = present && r.rootOurs(names[i], marks[i])
		}
		if o != nil && present && !r.touches(l) {
			if !sameEnds(o, l) {
				r.retune(o, l)
			}
			r.cableDrift(l, !sameEnds(o, l))
			r.portDrift(l)
			// A shape's bucket holds packets of the cable's MTU.
			// A shape set at runtime (Faults) is kept: heal puts back the file's.
			if !r.shaped[l] && (!sameShapes(o, l) || len(l.Shapes()) > 0 && !sameEnds(o, l)) {
				r.shapes = append(r.shapes, shapeEnds(r.lab, l, len(o.Shapes()) > 0)...)
			}
			r.keepLink(o, l)
			r.vlanSets = append(r.vlanSets, linkVLANs(r.name, l, o)...)
			continue
		}
		r.remakeLink[l] = true
		if o != nil {
			r.dropLink(o)
		}
		r.dropStale(l)
	}
	for _, o := range r.old.Links {
		if !newKeys[linkKey(o)] {
			r.dropLink(o)
		}
	}
	// Root links of the lab that no cable of the file explains (a crashed
	// run's, say): bridges are handled above.
	want := map[string]bool{}
	for _, l := range r.lab.Links {
		if r.remakeLink[l] {
			continue
		}
		names, _ := r.rootEnds(l)
		for _, n := range names {
			want[n] = true
		}
	}
	for n := range r.keepTaps {
		want[n] = true
	}
	for _, name := range sortedKeys(r.st.Links) {
		lab, kind, _, ok := kernel.ParseMarker(r.st.Links[name].Alias)
		if ok && lab == r.name && kind != kernel.KindBridge && !want[name] || r.stray[name] && !want[name] {
			r.dropRoot(name)
		}
	}
}

// retune changes the MTU and MACs of a cable in place, end by end, as
// vethOp would have made them. The kernel's default MTU stands for none.
func (r *reconciler) retune(o, n *topology.Link) {
	was, now := vethOp(r.old, o), vethOp(r.lab, n)
	mtu := func(m int) int {
		if m == 0 {
			return 1500
		}
		return m
	}
	type end struct {
		ns, name string
		mac      net.HardwareAddr
	}
	wasEnds := []end{{was.NS, was.Name, was.MAC}, {was.PeerNS, was.PeerName, was.PeerMAC}}
	for k, e := range []end{{now.NS, now.Name, now.MAC}, {now.PeerNS, now.PeerName, now.PeerMAC}} {
		set := &kernel.LinkSet{NS: e.ns, Name: e.name}
		if mtu(was.MTU) != mtu(now.MTU) {
			set.MTU = mtu(now.MTU)
		}
		if e.mac.String() != wasEnds[k].mac.String() && e.mac != nil {
			set.MAC = e.mac
		}
		if set.MTU != 0 || set.MAC != nil {
			r.linksSet = append(r.linksSet, set)
		}
	}
}

// keepLink changes the addresses of a cable that stays.
func (r *reconciler) keepLink(o, n *topology.Link) {
	for _, i := range []*topology.Interface{n.A, n.B} {
		if i == nil {
			continue
		}
		was := o.A
		if was.Ref() != i.Ref() {
			was = o.B
		}
		if i.OnHost() {
			r.rootAddrs(HostIfName(r.name, i.Name), i.Addresses)
			continue
		}
		if obs := r.observed(i.Node); obs != nil {
			r.nodeAddrs(obs, NetnsName(r.name, i.Node), i.Name, was.Addresses, i.Addresses)
			continue
		}
		r.addrDiff(NetnsName(r.name, i.Node), i.Name, was.Addresses, i.Addresses)
	}
}

// dropLink deletes a cable of the old file, from an end that stays: the
// root namespace, or a node that is kept. With both nodes made anew or
// gone, deleting their namespaces takes the cable.
func (r *reconciler) dropLink(o *topology.Link) {
	names, marks := r.rootEnds(o)
	if len(names) > 0 {
		if r.rootOurs(names[0], marks[0]) {
			r.dropRoot(names[0])
		}
		return
	}
	for _, i := range []*topology.Interface{o.A, o.B} {
		if r.lab.Node(i.Node) != nil && !r.remakeNode[i.Node] {
			r.linksDel = append(r.linksDel, &kernel.LinkDel{NS: NetnsName(r.name, i.Node), Name: i.Name})
			return
		}
	}
}

// dropRoot deletes a root link once, however many reasons there are.
func (r *reconciler) dropRoot(name string) {
	if !r.dropped[name] {
		r.dropped[name] = true
		r.linksDel = append(r.linksDel, &kernel.LinkDel{Name: name})
	}
}

// clashes fails when a name that the change needs is held by something
// that is not the lab's.
func (r *reconciler) clashes() error {
	sub := r.made()
	var errs []error
	for _, n := range sub.Nodes {
		ns := NetnsName(r.name, n.Name)
		if m, ok := r.st.Namespaces[ns]; ok && !r.nsOurs(n.Name) && !r.st.Stale[ns] {
			if l, _, _, ours := kernel.ParseMarker(m); !ours || l != r.name {
				errs = append(errs, &ClashError{Pos: n.Pos, What: "node " + n.Name, By: describeNetns(ns, m)})
			}
		}
	}
	for _, w := range rootNames(sub) {
		for _, name := range []string{w.name, w.alt} {
			k, ok := r.st.Names[name]
			l := r.st.Links[k]
			if !ok || l == nil {
				continue
			}
			if lab, _, _, ours := kernel.ParseMarker(l.Alias); r.stray[k] {
				r.dropRoot(k)
			} else if !ours || lab != r.name {
				errs = append(errs, &ClashError{Pos: w.pos, What: fmt.Sprintf("%s (kernel name %s, altname %s)", w.what, w.name, w.alt), By: describeLink(l)})
			} else {
				r.dropRoot(k)
			}
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	return r.hostSubnets()
}

// hostSubnets is checkHostSubnets without the lab's own addresses and
// routes; and the checks of its published ports.
func (r *reconciler) hostSubnets() error {
	st := *r.st
	st.Addrs = nil
	for _, a := range r.st.Addrs {
		if l := r.st.Links[a.Link]; l != nil {
			if lab, _, _, ok := kernel.ParseMarker(l.Alias); ok && lab == r.name {
				continue
			}
		}
		st.Addrs = append(st.Addrs, a)
	}
	st.Routes = nil
	for _, rt := range r.st.Routes {
		if l := r.st.Links[rt.Link]; l != nil {
			if lab, _, _, ok := kernel.ParseMarker(l.Alias); ok && lab == r.name {
				continue
			}
		}
		st.Routes = append(st.Routes, rt)
	}
	return errors.Join(checkHostSubnets(r.lab, &st), checkPublishAddrs(r.lab, r.st), checkPublishPorts(r.lab, r.st))
}

// made is the part of the lab that is built anew, as a lab of its own.
func (r *reconciler) made() *topology.Lab {
	sub := &topology.Lab{Name: r.lab.Name, File: r.lab.File}
	for _, n := range r.lab.Nodes {
		if r.remakeNode[n.Name] {
			sub.Nodes = append(sub.Nodes, n)
		}
	}
	for _, b := range r.lab.Bridges {
		if r.remakeBridge[b.Name] {
			sub.Bridges = append(sub.Bridges, b)
		}
	}
	for _, l := range r.lab.Links {
		if !r.remakeLink[l] {
			continue
		}
		sub.Links = append(sub.Links, l)
		for _, i := range []*topology.Interface{l.A, l.B} {
			if i != nil && i.OnHost() {
				sub.Host = append(sub.Host, i)
			}
		}
	}
	return sub
}

// routes plans the routes of the nodes that are kept.
func (r *reconciler) routes() {
	for _, n := range r.lab.Nodes {
		if r.remakeNode[n.Name] {
			continue
		}
		o := r.old.Node(n.Name)
		ns := NetnsName(r.name, n.Name)
		cabled := false // a cable of the node is made anew: its routes went with it
		for _, i := range n.Interfaces {
			cabled = cabled || i.Link != nil && r.remakeLink[i.Link]
		}
		cabled = cabled || r.remadeIfaces[n.Name]
		if obs := r.observed(n.Name); obs != nil {
			r.routeDrift(n, obs, cabled)
			continue
		}
		for _, rt := range o.Routes {
			if !slices.ContainsFunc(n.Routes, func(x topology.Route) bool { return sameRoute(x, rt) }) {
				r.routesDel = append(r.routesDel, &kernel.RouteDel{RouteAdd: *routeOp(ns, rt, false)})
			}
		}
		for _, rt := range n.Routes {
			had := slices.ContainsFunc(o.Routes, func(x topology.Route) bool { return sameRoute(x, rt) })
			if !had || cabled {
				r.routesAdd = append(r.routesAdd, routeOp(ns, rt, had))
			}
		}
	}
}

func sameRoute(a, b topology.Route) bool {
	return a.To == b.To && a.Via == b.Via && a.Dev == b.Dev && a.Metric == b.Metric && a.Table == b.Table
}

func (r *reconciler) plan() *Plan {
	r.routes()
	vxlans, vxSetup := r.overlays()
	sub := r.made()
	p := &Plan{Lab: r.name, Made: sub}
	// The firewall and the host's settings for NAT and published ports,
	// when they change.
	fwOld, fwNew := firewallOp(r.old), firewallOp(r.lab)
	// A table deleted or changed by hand is drift, seen cheaply (see
	// kernel.ObserveFirewall).
	fwDrift := fwNew != nil && r.st.Firewall != nil && !r.st.Firewall.Equal(fwNew.Seen())
	fwChanged := fwNew != nil && (fwOld == nil || fwOld.String() != fwNew.String() || len(sub.Bridges)+len(sub.Host) > 0 || fwDrift)
	switch {
	case fwChanged:
		p.add("firewall", []kernel.Op{fwNew})
	case fwNew == nil && fwOld != nil:
		p.add("firewall", []kernel.Op{&kernel.FirewallDel{Lab: r.name}})
	}
	p.add("routes removed", r.routesDel)
	p.add("addresses removed", r.addrsDel)
	p.add("links removed", r.linksDel)
	p.add("bridges removed", r.bridgesDel)
	p.add("namespaces removed", r.nsDel)
	p.add("namespaces", namespaceOps(sub, r.st.UTSHolder))
	p.add("bridges", bridgeOps(sub))
	p.add("links", append(append(linkOps(sub), r.linksSet...), r.tapsAdd...))
	p.add("overlays", vxlans)
	p.add("interfaces", append(ifaceOps(sub), r.ifaces...))
	ports := portOps(sub)
	if len(r.tapsIPv6) > 0 {
		ports = append(ports, &kernel.PortsIPv6Off{Names: r.tapsIPv6})
	}
	p.add("ports", ports)
	p.add("vlans", append(vlanOps(sub), r.vlanSets...))
	p.add("sysctls", append(sysctlOps(sub), r.sysctls...))
	p.add("addresses", append(append(append(cableSetupOps(sub), vxSetup...), madeSetupOps(sub)...), r.addrsAdd...))
	p.add("shaping", append(shapeOps(sub), r.shapes...))
	p.add("bridges up", bridgeUpOps(sub))
	p.add("routes", append(routeOps(sub), r.routesAdd...))
	if n := len(p.Stages); n > 0 && p.Stages[n-1].Name == "routes" {
		p.Stages[n-1].AfterLinksUp = true
	}
	if fwChanged || r.hostSysctlDrift() {
		p.add("host settings", hostSysctlOps(r.lab))
	}
	p.add("partition", r.partitionOps())
	return p
}

// partitionOps puts the partition and blocks in force back when a node
// of them is made anew: its new namespace has no partition table, and the
// record still lists it. The whole partition is planned again (each node's table
// is replaced whole), since the remade node's addresses may have changed
// too.
func (r *reconciler) partitionOps() []kernel.Op {
	remade := func(g []string) bool { return slices.ContainsFunc(g, func(n string) bool { return r.remakeNode[n] }) }
	if !slices.ContainsFunc(r.partition, remade) && !slices.ContainsFunc(r.blocks, func(b Block) bool { return remade(b.To) || remade(b.From) }) {
		return nil
	}
	pp, err := Filters(r.lab, r.partition, r.blocks)
	if err != nil {
		return nil // a node of it is gone: the record forgets it (Faults.Prune)
	}
	var ops []kernel.Op
	for _, s := range pp.Stages {
		ops = append(ops, s.Ops...)
	}
	return ops
}

// cableSetupOps brings up the ends of new cables in the root namespace
// and in nodes, with their addresses.
func cableSetupOps(sub *topology.Lab) []kernel.Op {
	var ops []kernel.Op
	for _, l := range sub.Links {
		if l.Kind == topology.Trunk {
			continue
		}
		for _, i := range []*topology.Interface{l.A, l.B} {
			switch {
			case i == nil:
			case i.OnHost():
				ops = append(ops, &kernel.LinkSetup{Name: HostIfName(sub.Name, i.Name), Addresses: i.Addresses})
			default:
				ops = append(ops, &kernel.LinkSetup{NS: NetnsName(sub.Name, i.Node), Name: i.Name, Addresses: i.Addresses})
			}
		}
	}
	return ops
}

// Summary says in a line what a reconciling plan changes.
func (p *Plan) Summary() string {
	var parts []string
	for _, s := range p.Stages {
		parts = append(parts, fmt.Sprintf("%s %d", s.Name, len(s.Ops)))
	}
	if len(parts) == 0 {
		return "nothing to change"
	}
	return strings.Join(parts, ", ")
}

// Hints is what nslab's own state says of a running lab besides the file
// it runs: the faults in force, which a repair keeps, and the file of a
// change that was killed part-way (nil if none).
type Hints struct {
	Faults      *Faults
	Interrupted *topology.Lab
}

// strayLinks lists the root links that a killed nslab left before it
// could mark them (see Down): no alias, the lab's link group, and a
// kernel name that the old file, the new one or the interrupted one
// gives.
func (r *reconciler) strayLinks(interrupted *topology.Lab) map[string]bool {
	out := map[string]bool{}
	group := Group(r.name)
	if !slices.ContainsFunc(slices.Collect(maps.Values(r.st.Links)), func(l *kernel.RootLink) bool { return l.Alias == "" && l.Group == group }) {
		return out
	}
	names := map[string]bool{}
	for _, t := range []*topology.Lab{r.old, r.lab, interrupted} {
		if t == nil {
			continue
		}
		for _, w := range rootNames(t) {
			names[w.name] = true
		}
	}
	for name, l := range r.st.Links {
		if l.Alias == "" && l.Group == group && names[name] {
			out[name] = true
		}
	}
	return out
}

// sameShapes reports whether two cables are shaped alike each way.
func sameShapes(o, l *topology.Link) bool {
	on, op := endShapes(o)
	ln, lp := endShapes(l)
	return on.Equal(ln) && op.Equal(lp)
}
