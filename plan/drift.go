package plan

import (
	"net"
	"net/netip"
	"slices"
	"strings"

	"github.com/nslab/nslab/kernel"
	"github.com/nslab/nslab/topology"
)

// Drift: what the kernel shows against what the file says, for the
// objects a change keeps. Reconcile compares the root namespace's side
// always (links' state, MTU and MAC, bridges' addresses, the lab's
// nftables table): it is observed in one dump. A node is compared only
// when it was observed in full (kernel.State.Nodes, a repair): its links'
// state, MTU and MAC, its addresses, its routes of nslab's protocol and
// the sysctls nslab sets. What nslab did not make is left alone: routes
// of other protocols, addresses the file never had, sysctls nslab does
// not set. Faults in force (Faults) are no drift.

// SysctlKeys lists the sysctls a repair reads in node n: those nslab
// sets there, and forwarding, which a node that is a router no more gets
// turned off.
func SysctlKeys(n *topology.Node) []string {
	keys := sortedKeys(effectiveSysctls(n))
	for _, s := range routerSysctls {
		if !slices.Contains(keys, s.Key) {
			keys = append(keys, s.Key)
		}
	}
	return keys
}

// observed is the state of node's namespace when it was observed in full.
func (r *reconciler) observed(node string) *kernel.NodeState {
	if r.st.Nodes == nil {
		return nil
	}
	return r.st.Nodes[NetnsName(r.name, node)]
}

// sysctlDrift sets the sysctls of a kept node that the kernel shows
// otherwise than the file says.
func (r *reconciler) sysctlDrift(o, n *topology.Node, obs *kernel.NodeState) {
	want := effectiveSysctls(n)
	var set []kernel.Sysctl
	for _, k := range sortedKeys(want) {
		if v, ok := obs.Sysctls[k]; !ok || fields(v) != fields(want[k]) {
			set = append(set, kernel.Sysctl{Key: k, Value: want[k]})
		}
	}
	for _, s := range routerSysctls {
		if _, ok := want[s.Key]; !ok && o.Router && obs.Sysctls[s.Key] != "0" {
			set = append(set, kernel.Sysctl{Key: s.Key, Value: "0"})
		}
	}
	if len(set) > 0 {
		r.sysctls = append(r.sysctls, &kernel.SysctlSet{NS: NetnsName(r.name, n.Name), Settings: set})
	}
}

func fields(s string) string { return strings.Join(strings.Fields(s), " ") }

// endState is a link's state as observed: in the root namespace always,
// in a node when it was observed in full; ok is false otherwise.
func (r *reconciler) endState(ns, name string) (st kernel.LinkState, ok bool) {
	if ns == "" {
		l := r.st.Links[name]
		if l == nil {
			return st, false
		}
		return kernel.LinkState{Up: l.Up, MTU: l.MTU, MAC: l.MAC}, true
	}
	obs := r.st.Nodes[ns]
	if obs == nil || obs.Links[name] == nil {
		return st, false
	}
	return *obs.Links[name], true
}

// endDrift puts a kept link back as nslab made it: up (down when a cut in
// force holds it down), with its MTU and, when given, its MAC.
func (r *reconciler) endDrift(ns, name string, mtu int, mac net.HardwareAddr) {
	have, ok := r.endState(ns, name)
	if !ok {
		return
	}
	set := &kernel.LinkSet{NS: ns, Name: name}
	if mtu != 0 && have.MTU != mtu {
		set.MTU = mtu
	}
	if mac != nil && have.MAC.String() != mac.String() {
		set.MAC = mac
	}
	if set.MTU != 0 || set.MAC != nil {
		r.linksSet = append(r.linksSet, set)
	}
	switch cut := r.cut[ns+"\x00"+name]; {
	case !cut && !have.Up:
		r.addrsAdd = append(r.addrsAdd, &kernel.LinkSetup{NS: ns, Name: name})
	case cut && have.Up:
		r.linksSet = append(r.linksSet, &kernel.LinkDown{NS: ns, Name: name})
	}
}

// cableDrift compares both ends of a kept cable; tuned says that its MTU
// and MACs are being changed already (retune).
func (r *reconciler) cableDrift(l *topology.Link, tuned bool) {
	v := vethOp(r.lab, l)
	mtu := v.MTU
	if mtu == 0 {
		mtu = 1500
	}
	mac, peerMAC := v.MAC, v.PeerMAC
	if tuned {
		mtu, mac, peerMAC = 0, nil, nil
	}
	r.endDrift(v.NS, v.Name, mtu, mac)
	r.endDrift(v.PeerNS, v.PeerName, mtu, peerMAC)
}

// portDrift attaches again a kept cable's root ends that are no longer
// ports of their bridge (ip link set PORT nomaster, or master of another
// bridge, by hand), and gives them their VLANs back, which the kernel
// forgot when they left the bridge.
func (r *reconciler) portDrift(l *topology.Link) {
	v := vethOp(r.lab, l)
	detached := false
	for _, e := range [][2]string{{v.Name, v.Master}, {v.PeerName, v.PeerMaster}} {
		if e[1] == "" {
			continue
		}
		have, br := r.st.Links[e[0]], r.st.Links[e[1]]
		if have == nil || br == nil || have.Master == br.Index {
			continue
		}
		r.linksSet = append(r.linksSet, &kernel.PortAttach{Name: e[0], Bridge: e[1]})
		detached = true
	}
	if detached {
		r.vlanSets = append(r.vlanSets, linkVLANs(r.name, l, nil)...)
	}
}

// nodeEndsThere reports whether every end of a cable in an observed node
// is there; ends in nodes not observed count as there.
func (r *reconciler) nodeEndsThere(l *topology.Link) bool {
	for _, i := range []*topology.Interface{l.A, l.B} {
		if i == nil || i.OnHost() {
			continue
		}
		if obs := r.observed(i.Node); obs != nil && obs.Links[i.Name] == nil {
			return false
		}
	}
	return true
}

// dropStale deletes the node ends of a cable about to be made that an
// observed node has already: a change killed after making it.
func (r *reconciler) dropStale(l *topology.Link) {
	for _, i := range []*topology.Interface{l.A, l.B} {
		if i == nil || i.OnHost() || r.remakeNode[i.Node] {
			continue
		}
		if obs := r.observed(i.Node); obs != nil && obs.Links[i.Name] != nil {
			r.linksDel = append(r.linksDel, &kernel.LinkDel{NS: NetnsName(r.name, i.Node), Name: i.Name})
		}
	}
}

// bridgeDrift puts a kept bridge back up, with its MAC and MTU.
func (r *reconciler) bridgeDrift(b *topology.Bridge) {
	r.endDrift("", BridgeName(r.name, b.Name), b.MTU, BridgeMAC(r.name, b.Name))
}

// nodeAddrs brings the addresses of a kept node's interface to want:
// what is missing is added; what the old file had and the new one has
// not is removed; other addresses were not nslab's and stay.
func (r *reconciler) nodeAddrs(obs *kernel.NodeState, ns, dev string, was, want []netip.Prefix) {
	have := obs.Addrs[dev]
	var add []netip.Prefix
	for _, a := range want {
		if !slices.Contains(have, a) {
			add = append(add, a)
		}
	}
	for _, a := range was {
		if slices.Contains(have, a) && !slices.Contains(want, a) {
			r.addrsDel = append(r.addrsDel, &kernel.AddrDel{NS: ns, Name: dev, Addr: a})
		}
	}
	if len(add) > 0 {
		r.addrsAdd = append(r.addrsAdd, &kernel.LinkSetup{NS: ns, Name: dev, Addresses: add})
	}
}

// routeDrift brings the routes of nslab's protocol in an observed node to
// the file's: those missing are added (but not through an interface a cut
// holds down), those the file lacks are removed.
func (r *reconciler) routeDrift(n *topology.Node, obs *kernel.NodeState, cabled bool) {
	ns := NetnsName(r.name, n.Name)
	for _, o := range obs.Routes {
		if !slices.ContainsFunc(n.Routes, func(x topology.Route) bool { return routeIs(x, o) }) {
			r.routesDel = append(r.routesDel, &kernel.RouteDel{RouteAdd: kernel.RouteAdd{NS: ns, To: o.To, Via: o.Via, Dev: o.Dev, Metric: o.Metric, Table: o.Table}})
		}
	}
	for _, rt := range n.Routes {
		had := slices.ContainsFunc(obs.Routes, func(o kernel.Route) bool { return routeIs(rt, o) })
		if (!had || cabled) && !r.throughCut(n, rt) {
			r.routesAdd = append(r.routesAdd, routeOp(ns, rt, true))
		}
	}
}

// routeIs reports whether an observed route is the file's route: IPv6
// gives a route of metric 0 the metric 1024; a route without a device
// takes the one the kernel finds.
func routeIs(f topology.Route, o kernel.Route) bool {
	metric := f.Metric
	if metric == 0 && f.To.Addr().Is6() {
		metric = 1024
	}
	return f.To == o.To && f.Via == o.Via && (f.Dev == "" || f.Dev == o.Dev) && metric == o.Metric && f.Table == o.Table
}

// throughCut reports whether a route of node n goes through one of its
// interfaces that a cut holds down: the kernel removed it, and the join
// puts it back.
func (r *reconciler) throughCut(n *topology.Node, rt topology.Route) bool {
	ns := NetnsName(r.name, n.Name)
	for _, i := range n.Interfaces {
		if !r.cut[ns+"\x00"+i.Name] {
			continue
		}
		if rt.Dev == i.Name {
			return true
		}
		for _, a := range i.Addresses {
			if rt.Via.IsValid() && a.Masked().Contains(rt.Via) {
				return true
			}
		}
	}
	return false
}

// HostSysctlKeys lists the root namespace's settings nslab sets for lab's
// links (see hostSysctlOps).
func HostSysctlKeys(lab *topology.Lab) []string {
	var keys []string
	for _, op := range hostSysctlOps(lab) {
		for _, s := range op.(*kernel.SysctlSet).Settings {
			keys = append(keys, s.Key)
		}
	}
	return keys
}

// hostSysctlDrift reports whether a host setting nslab makes for the lab
// reads otherwise; settings this kernel lacks are not compared.
func (r *reconciler) hostSysctlDrift() bool {
	if r.st.HostSysctls == nil {
		return false
	}
	for _, op := range hostSysctlOps(r.lab) {
		for _, s := range op.(*kernel.SysctlSet).Settings {
			if v, ok := r.st.HostSysctls[s.Key]; ok && fields(v) != s.Value {
				return true
			}
		}
	}
	return false
}
