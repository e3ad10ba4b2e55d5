package lab

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strings"

	"github.com/nslab/nslab/internal/natsort"
	"github.com/nslab/nslab/kernel"
	"github.com/nslab/nslab/plan"
	"github.com/nslab/nslab/topology"
)

// Names lists the running labs: those with state under StateDir and those
// whose marked namespaces remain without it.
func Names() ([]string, error) {
	seen := map[string]bool{}
	entries, err := os.ReadDir(StateDir)
	if err != nil && !os.IsNotExist(err) {
		return nil, err
	}
	for _, e := range entries {
		if e.IsDir() && !strings.HasPrefix(e.Name(), ".") {
			seen[e.Name()] = true
		}
	}
	spaces, _ := os.ReadDir(kernel.NetnsDir)
	for _, e := range spaces {
		if l, node, ok := plan.SplitNetnsName(e.Name()); ok && !seen[l] {
			if ml, _, mn, ok := kernel.ParseMarker(kernel.NetnsMark(e.Name())); ok && ml == l && mn == node {
				seen[l] = true
			}
		}
	}
	names := make([]string, 0, len(seen))
	for n := range seen {
		names = append(names, n)
	}
	slices.SortFunc(names, natsort.Compare)
	return names, nil
}

// Topology returns the topology a running lab was built from.
func Topology(name string) (*topology.Lab, error) {
	data, err := os.ReadFile(topologyFile(name))
	if os.IsNotExist(err) {
		return nil, fmt.Errorf("lab %s is not running (no %s); running labs are listed by nslab status", name, topologyFile(name))
	}
	if err != nil {
		return nil, err
	}
	return parseSaved(name, topologyFile(name), data)
}

// Status is a running lab as the kernel shows it, with the cabling of its
// topology.
type Status struct {
	Name    string         `json:"name"`
	Nodes   []NodeStatus   `json:"nodes"`
	Bridges []BridgeStatus `json:"bridges"`
	Host    []IfaceStatus  `json:"host,omitempty"`
	// Drift is what up --repair would change in the root namespace
	// outside the bridges (the lab's nftables table, host interfaces,
	// host settings), as ip and nft commands; Nodes and Bridges have
	// their own.
	Drift []string `json:"drift,omitempty"`
	// Faults are the faults in force (the lab's record), as status words
	// them: cuts, the partition, blocks, runtime shapes, a schedule or
	// flap running.
	Faults []string `json:"faults,omitempty"`
}

// NodeStatus is one node.
type NodeStatus struct {
	Name       string        `json:"name"`
	Netns      string        `json:"netns"`
	Interfaces []IfaceStatus `json:"interfaces"`
	// Drift is what up --repair would change in the node: what was
	// changed by hand since nslab made it, as ip commands.
	Drift []string `json:"drift,omitempty"`
}

// BridgeStatus is one bridge of the lab.
type BridgeStatus struct {
	Name      string   `json:"name"`
	Kernel    string   `json:"kernel_name"`
	AltName   string   `json:"altname"`
	State     string   `json:"state"`
	Addresses []string `json:"addresses"`
	// Assigned are the addresses nslab chose (gateway: true).
	Assigned []string `json:"assigned,omitempty"`
	// Subnets are the segment's subnets that addresses are chosen from.
	Subnets []string `json:"subnets,omitempty"`
	Ports   []string `json:"ports"`
	// Taps are its tap devices, for VMs.
	Taps []TapStatus `json:"taps,omitempty"`
	// Drift is what up --repair would change in the bridge.
	Drift []string `json:"drift,omitempty"`
}

// IfaceStatus is one interface.
type IfaceStatus struct {
	Name string `json:"name"`
	// Kernel is the kernel name of a host interface.
	Kernel    string   `json:"kernel_name,omitempty"`
	State     string   `json:"state"`
	MTU       int      `json:"mtu"`
	MAC       string   `json:"mac"`
	Addresses []string `json:"addresses"`
	// Assigned are the addresses nslab chose from the segment's subnets.
	Assigned []string `json:"assigned,omitempty"`
	// Peer is what the cable leads to: a bridge, "node:iface" or
	// "host:name"; for an overlay's interface, "overlay NAME (vni N over
	// UNDERLAY)".
	Peer string `json:"peer"`
	// VLAN and VLANs are a bridge port's access VLAN and tagged VLANs,
	// as the file has them.
	VLAN  int   `json:"vlan,omitempty"`
	VLANs []int `json:"vlans,omitempty"`
	// Overlay is the tunnel of an overlay's interface, as the kernel has
	// it.
	Overlay *OverlayStatus `json:"overlay,omitempty"`
	// Shape is how what leaves the interface is shaped, as the kernel
	// has it, in the file's words ("rate 10mbit, delay 20ms").
	Shape string `json:"shape,omitempty"`
	// Kind is the kind of an interface made inside its node (vlan,
	// dummy, macvlan, ipvlan, bond, vrf); "" for a cable's end.
	Kind string `json:"kind,omitempty"`
	// Master is the bond or vrf the interface is enslaved to, as the
	// kernel has it.
	Master string `json:"master,omitempty"`
	// Active is a bond's active member, as the kernel has it.
	Active string `json:"active,omitempty"`
}

// GetStatus reads a running lab from the kernel.
func GetStatus(name string) (*Status, error) {
	t, err := Topology(name)
	if err != nil {
		return nil, err
	}
	if err := checkHome(name); err != nil {
		return nil, err
	}
	c := kernel.NewConn()
	defer c.Close()
	f := readFaults(name)
	s := &Status{Name: name, Faults: f.Describe(alive)}
	shaped := f.ShapedLinks(t)
	for _, n := range t.Nodes {
		s.Nodes = append(s.Nodes, nodeStatus(c, t, n, shaped))
	}
	for _, b := range t.Bridges {
		s.Bridges = append(s.Bridges, bridgeStatus(c, t, b))
	}
	for _, i := range t.Host {
		is := ifaceStatus(c, "", plan.HostIfName(name, i.Name), i, shaped)
		is.Name, is.Kernel = i.Name, plan.HostIfName(name, i.Name)
		s.Host = append(s.Host, is)
	}
	return s, s.drift(c, t)
}

// drift fills in what up --repair would change, by node and bridge.
func (s *Status) drift(c *kernel.Conn, t *topology.Lab) error {
	src, err := os.ReadFile(topologyFile(t.Name))
	if err != nil {
		return err
	}
	p, _, _, err := planFor(c, t, src, &Options{Repair: true})
	if errors.Is(err, errUnfinished) {
		s.Drift = []string{"# the lab's last build did not finish: nslab up builds it anew"}
		return nil
	}
	if err != nil {
		return err
	}
	nodes := map[string]*NodeStatus{}
	for i := range s.Nodes {
		nodes[s.Nodes[i].Netns] = &s.Nodes[i]
	}
	for _, st := range p.Stages {
		for _, op := range st.Ops {
			lines := strings.Split(op.String(), "\n")
			if n := nodes[op.Namespace()]; n != nil {
				n.Drift = append(n.Drift, lines...)
				continue
			}
			if b := s.bridgeOf(op); b != nil {
				b.Drift = append(b.Drift, lines...)
				continue
			}
			s.Drift = append(s.Drift, lines...)
		}
	}
	return nil
}

// bridgeOf is the bridge a root operation works on, if any.
func (s *Status) bridgeOf(op kernel.Op) *BridgeStatus {
	if op.Namespace() != "" {
		return nil
	}
	switch op.(type) {
	case *kernel.Firewall, *kernel.FirewallDel, *kernel.SysctlSet:
		return nil // the lab's, not a bridge's, though they name bridges
	}
	for i, b := range s.Bridges {
		if slices.Contains(strings.Fields(op.String()), b.Kernel) {
			return &s.Bridges[i]
		}
	}
	return nil
}

func nodeStatus(c *kernel.Conn, t *topology.Lab, n *topology.Node, shaped map[*topology.Link]bool) NodeStatus {
	ns := plan.NetnsName(t.Name, n.Name)
	out := NodeStatus{Name: n.Name, Netns: ns}
	for _, i := range n.Interfaces {
		out.Interfaces = append(out.Interfaces, ifaceStatus(c, ns, i.Name, i, shaped))
	}
	c.Forget(ns)
	return out
}

func bridgeStatus(c *kernel.Conn, t *topology.Lab, b *topology.Bridge) BridgeStatus {
	k := plan.BridgeName(t.Name, b.Name)
	out := BridgeStatus{Name: b.Name, Kernel: k, AltName: plan.BridgeAltName(t.Name, b.Name), Addresses: []string{}, Ports: []string{}}
	out.State, _, _, out.Addresses = linkFacts(c, "", k)
	out.Assigned, out.Subnets = strs(b.Auto), strs(b.Subnets)
	for _, l := range t.Ports(b) {
		out.Ports = append(out.Ports, l.A.Ref())
	}
	for _, tap := range b.Taps {
		k := plan.TapName(t.Name, tap.Name)
		ts := TapStatus{Name: tap.Name, Kernel: k, User: tap.User, Group: tap.Group}
		ts.State, ts.MTU, _, _ = linkFacts(c, "", k)
		out.Taps = append(out.Taps, ts)
	}
	return out
}

// TapStatus is a tap of a bridge: State is "down" (no carrier) until a
// VM opens it, "up" while one does.
type TapStatus struct {
	Name string `json:"name"`
	// Kernel is the name to give the VM: qemu -nic tap,ifname=KERNEL,script=no.
	Kernel string `json:"kernel_name"`
	State  string `json:"state"`
	MTU    int    `json:"mtu"`
	User   string `json:"user,omitempty"`
	Group  string `json:"group,omitempty"`
}

// ifaceStatus reads the interface's shape from the kernel when the file
// or a runtime shape in force (shaped) shapes its cable.
func ifaceStatus(c *kernel.Conn, ns, kname string, i *topology.Interface, shaped map[*topology.Link]bool) IfaceStatus {
	out := IfaceStatus{Name: i.Name, Peer: peerOf(i)}
	if !i.IsCable() {
		out.Kind, out.Peer = i.Kind, kindPeer(i)
	}
	out.State, out.MTU, out.MAC, out.Addresses = linkFacts(c, ns, kname)
	if f, _ := kernel.ReadLink(c, ns, kname); f != nil {
		out.Master, out.Active = f.Master, f.Active
	}
	out.Assigned = strs(i.Auto)
	out.Overlay = overlayStatus(c, ns, kname, i)
	out.VLAN, out.VLANs = i.PVID, i.Tagged
	if i.Link != nil && (len(i.Link.Shapes()) > 0 || shaped[i.Link]) {
		if ks, err := kernel.LinkShape(c, ns, kname); err == nil && ks != nil {
			ts := topology.Shape{Rate: ks.Rate, Delay: ks.Delay, Jitter: ks.Jitter, Loss: ks.Loss,
				Duplicate: ks.Duplicate, Reorder: ks.Reorder, Corrupt: ks.Corrupt}
			out.Shape = ts.String()
			if ks.NftLoss {
				out.Shape = plan.ViaNft(out.Shape, ks.Loss)
			}
		}
	}
	return out
}

func strs(ps []netip.Prefix) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.String())
	}
	return out
}

// kindPeer says, in the PEER column, what an interface made inside its
// node rides on or holds: "vlan 10 on eth0", "bond active-backup of
// eth1, eth2", "vrf table 10".
func kindPeer(i *topology.Interface) string {
	switch i.Kind {
	case topology.KindVLAN:
		if i.Protocol == topology.VLAN8021AD {
			return fmt.Sprintf("vlan %d (802.1ad) on %s", i.VLAN, i.Parent)
		}
		return fmt.Sprintf("vlan %d on %s", i.VLAN, i.Parent)
	case topology.KindMacvlan, topology.KindIPvlan:
		return fmt.Sprintf("%s %s on %s", i.Kind, i.Mode, i.Parent)
	case topology.KindBond:
		return fmt.Sprintf("bond %s of %s", i.Mode, strings.Join(i.Members, ", "))
	case topology.KindVRF:
		return fmt.Sprintf("vrf table %d", i.Table)
	}
	return i.Kind
}

func peerOf(i *topology.Interface) string {
	l := i.Link
	switch {
	case i.Overlay != nil:
		return fmt.Sprintf("overlay %s (vni %d over %s)", i.Overlay.Name, i.Overlay.VNI, i.Underlay)
	case l == nil:
		return ""
	case l.Kind == topology.Port:
		return l.Bridge.Name + portVLANs(i)
	case l.A == i:
		return l.B.Ref()
	}
	return l.A.Ref()
}

// linkFacts reads a link's state, MTU, MAC and global addresses; a link
// that cannot be read shows as "missing".
func linkFacts(c *kernel.Conn, ns, name string) (state string, mtu int, mac string, addrs []string) {
	addrs = []string{}
	f, _ := kernel.ReadLink(c, ns, name)
	if f == nil {
		return "missing", 0, "", addrs
	}
	for _, p := range f.Addrs {
		if !p.Addr().IsLinkLocalUnicast() {
			addrs = append(addrs, p.String())
		}
	}
	return f.State, f.MTU, f.MAC.String(), addrs
}

// Node is a node of a running lab.
type Node struct {
	Lab, Name string
}

// Netns is the node's namespace name under /run/netns.
func (n Node) Netns() string { return plan.NetnsName(n.Lab, n.Name) }

// Exec replaces the calling process with argv running in the node, as
// nslab exec does (see kernel.Exec): in the node's network and UTS
// namespaces, with the lab's hosts file and resolv.conf over those of
// /etc. env is the command's environment. It returns only on failure.
func (n Node) Exec(argv, env []string) error {
	return kernel.Exec(n.Netns(), UTSHolder(n.Lab), argv, env, HostsFile(n.Lab), ResolvFile(n.Lab))
}

// FindNode resolves NODE or LAB.NODE among the running labs. A bare name
// must be unique across labs.
func FindNode(ref string) (Node, error) {
	if l, n, ok := plan.SplitNetnsName(ref); ok {
		if !isNode(l, n) {
			return Node{}, fmt.Errorf("no node %s in a running lab (nslab status lists them)", ref)
		}
		return Node{l, n}, nil
	}
	entries, _ := os.ReadDir(kernel.NetnsDir)
	var found []Node
	for _, e := range entries {
		if l, n, ok := plan.SplitNetnsName(e.Name()); ok && n == ref && isNode(l, n) {
			found = append(found, Node{l, n})
		}
	}
	switch len(found) {
	case 0:
		return Node{}, fmt.Errorf("no node named %s in a running lab (nslab status lists them)", ref)
	case 1:
		return found[0], nil
	}
	var alts []string
	for _, f := range found {
		alts = append(alts, f.Netns())
	}
	return Node{}, fmt.Errorf("node %s is in several labs; name one of: %s", ref, strings.Join(alts, ", "))
}

func isNode(lab, node string) bool {
	return kernel.NetnsMark(plan.NetnsName(lab, node)) == kernel.Marker(lab, kernel.KindNode, node)
}

// Process is a process running in a lab's node.
type Process struct {
	Lab  string   `json:"lab"`
	Node string   `json:"node"`
	PID  int      `json:"pid"`
	Args []string `json:"args"`
}

// Processes lists the processes in the nodes of the given labs.
func Processes(labs []string) ([]Process, error) {
	var spaces []string
	for _, l := range labs {
		t, err := Topology(l)
		if err != nil {
			return nil, err
		}
		for _, n := range t.Nodes {
			spaces = append(spaces, plan.NetnsName(l, n.Name))
		}
	}
	procs, err := kernel.ProcessesIn(spaces)
	if err != nil {
		return nil, err
	}
	out := make([]Process, 0, len(procs))
	for _, p := range procs {
		l, n, _ := plan.SplitNetnsName(p.Netns)
		out = append(out, Process{Lab: l, Node: n, PID: p.PID, Args: p.Args})
	}
	return out, nil
}

// OverlayStatus is the VXLAN tunnel of an overlay's interface.
type OverlayStatus struct {
	Name     string `json:"name"`
	VNI      int    `json:"vni"`
	Port     int    `json:"port"`
	Underlay string `json:"underlay"`
	// Remotes are the tunnel ends its flooded frames go to, as the
	// kernel's forwarding database has them.
	Remotes []string `json:"remotes"`
}

func overlayStatus(c *kernel.Conn, ns, kname string, i *topology.Interface) *OverlayStatus {
	if i.Overlay == nil {
		return nil
	}
	out := &OverlayStatus{Name: i.Overlay.Name, VNI: i.Overlay.VNI, Port: i.Overlay.Port, Underlay: i.Underlay, Remotes: []string{}}
	remotes, _ := kernel.VXLANRemotes(c, ns, kname)
	for _, r := range remotes {
		out.Remotes = append(out.Remotes, r.String())
	}
	return out
}

// portVLANs says what VLANs a bridge port carries, "" for none written:
// " vlan 10", " vlans 10,20", " vlan 30 + vlans 10,20".
func portVLANs(i *topology.Interface) string {
	var parts []string
	if i.PVID != 0 {
		parts = append(parts, fmt.Sprintf("vlan %d", i.PVID))
	}
	if len(i.Tagged) > 0 {
		ids := make([]string, len(i.Tagged))
		for k, id := range i.Tagged {
			ids[k] = fmt.Sprint(id)
		}
		parts = append(parts, "vlans "+strings.Join(ids, ","))
	}
	if len(parts) == 0 {
		return ""
	}
	return " " + strings.Join(parts, " + ")
}
