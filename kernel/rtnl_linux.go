package kernel

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// The builders below make rtnetlink requests that do in one message what
// the netlink package does in several: nslab's hot path is a handful of
// messages per node.

// linkMsg starts a link request for the link named name (or index).
func linkMsg(typ, flags int, index int32, name string) (*nl.NetlinkRequest, *nl.IfInfomsg) {
	req := nl.NewNetlinkRequest(typ, unix.NLM_F_ACK|flags)
	msg := nl.NewIfInfomsg(unix.AF_UNSPEC)
	msg.Index = index
	req.AddData(msg)
	if name != "" {
		req.AddData(nl.NewRtAttr(unix.IFLA_IFNAME, nl.ZeroTerminated(name)))
	}
	return req, msg
}

// linkSpec is what a new link can be given in its creating message.
type linkSpec struct {
	index  int32 // asked of the kernel; 0 lets it choose
	name   string
	mtu    int
	mac    net.HardwareAddr
	group  uint32
	master int32
}

func (s linkSpec) attrs(add func(nl.NetlinkRequestData)) {
	if s.mtu > 0 {
		add(nl.NewRtAttr(unix.IFLA_MTU, nl.Uint32Attr(uint32(s.mtu))))
	}
	if s.mac != nil {
		add(nl.NewRtAttr(unix.IFLA_ADDRESS, s.mac))
	}
	if s.group != 0 {
		add(nl.NewRtAttr(unix.IFLA_GROUP, nl.Uint32Attr(s.group)))
	}
	if s.master != 0 {
		add(nl.NewRtAttr(unix.IFLA_MASTER, nl.Uint32Attr(uint32(s.master))))
	}
}

// vethMsg creates a veth pair: self in the socket's namespace, peer in
// the namespace peerNS (a file descriptor).
//
// With up, self comes up in the same message, and the kernel echoes the
// new link back (NLM_F_ECHO) so that execIndex can learn its ifindex:
// later messages then name the link by index, sparing the kernel a walk
// of its name hash, whose 256 buckets hold every link and altname of the
// namespace (tens of thousands in the root namespace of a big lab).
func vethMsg(self, peer linkSpec, peerNS int, up bool) *nl.NetlinkRequest {
	flags := unix.NLM_F_CREATE | unix.NLM_F_EXCL
	if up {
		flags |= unix.NLM_F_ECHO
	}
	req, msg := linkMsg(unix.RTM_NEWLINK, flags, self.index, self.name)
	if up {
		msg.Flags, msg.Change = unix.IFF_UP, unix.IFF_UP
	}
	self.attrs(req.AddData)
	oneQueue(req.AddData)
	info := nl.NewRtAttr(unix.IFLA_LINKINFO, nil)
	info.AddRtAttr(nl.IFLA_INFO_KIND, nl.NonZeroTerminated("veth"))
	p := info.AddRtAttr(nl.IFLA_INFO_DATA, nil).AddRtAttr(nl.VETH_INFO_PEER, nil)
	nl.NewIfInfomsgChild(p, unix.AF_UNSPEC)
	p.AddRtAttr(unix.IFLA_IFNAME, nl.ZeroTerminated(peer.name))
	peer.attrs(func(d nl.NetlinkRequestData) { p.AddChild(d) })
	oneQueue(func(d nl.NetlinkRequestData) { p.AddChild(d) })
	p.AddRtAttr(unix.IFLA_NET_NS_FD, nl.Uint32Attr(uint32(peerNS)))
	req.AddData(info)
	return req
}

// oneQueue asks for one transmit and one receive queue. A veth made
// without them gets one queue per possible CPU and is then cut down to the
// one it uses (veth_init_queues), which waits for an expedited RCU grace
// period while holding rtnl_mutex (netif_set_real_num_tx_queues ->
// synchronize_net): every other netlink request of the machine waits with
// it, for each end of each cable. Asked for, the queue count is what the
// device is made with, and nothing is cut.
func oneQueue(add func(nl.NetlinkRequestData)) {
	add(nl.NewRtAttr(unix.IFLA_NUM_TX_QUEUES, nl.Uint32Attr(1)))
	add(nl.NewRtAttr(unix.IFLA_NUM_RX_QUEUES, nl.Uint32Attr(1)))
}

// bridgeMsg creates a bridge.
func bridgeMsg(s linkSpec, vlanFiltering ...bool) *nl.NetlinkRequest {
	req, _ := linkMsg(unix.RTM_NEWLINK, unix.NLM_F_CREATE|unix.NLM_F_EXCL, 0, s.name)
	s.attrs(req.AddData)
	info := nl.NewRtAttr(unix.IFLA_LINKINFO, nil)
	info.AddRtAttr(nl.IFLA_INFO_KIND, nl.NonZeroTerminated("bridge"))
	if len(vlanFiltering) > 0 && vlanFiltering[0] {
		data := info.AddRtAttr(nl.IFLA_INFO_DATA, nil)
		data.AddRtAttr(nl.IFLA_BR_VLAN_FILTERING, []byte{1})
	}
	req.AddData(info)
	return req
}

// setUpMsg brings a link up, and in the same message sets its alias and
// attaches it to the bridge master (when not 0).
func setUpMsg(index int32, name, alias string, master int32) *nl.NetlinkRequest {
	req, msg := linkMsg(unix.RTM_SETLINK, 0, index, name)
	msg.Flags, msg.Change = unix.IFF_UP, unix.IFF_UP
	if master != 0 {
		req.AddData(nl.NewRtAttr(unix.IFLA_MASTER, nl.Uint32Attr(uint32(master))))
	}
	if alias != "" {
		req.AddData(nl.NewRtAttr(unix.IFLA_IFALIAS, []byte(alias)))
	}
	return req
}

// altNameMsg gives a link, by index or else by name, an alternative name.
func altNameMsg(index int32, name, alt string) *nl.NetlinkRequest {
	if index != 0 {
		name = ""
	}
	req, _ := linkMsg(unix.RTM_NEWLINKPROP, unix.NLM_F_EXCL|unix.NLM_F_APPEND, index, name)
	props := nl.NewRtAttr(unix.IFLA_PROP_LIST|unix.NLA_F_NESTED, nil)
	props.AddRtAttr(unix.IFLA_ALT_IFNAME, nl.ZeroTerminated(alt))
	req.AddData(props)
	return req
}

// groupDelMsg deletes every link of a link group in one batch.
func groupDelMsg(group uint32) *nl.NetlinkRequest {
	req, _ := linkMsg(unix.RTM_DELLINK, 0, 0, "")
	req.AddData(nl.NewRtAttr(unix.IFLA_GROUP, nl.Uint32Attr(group)))
	return req
}

// addrMsg adds an address without duplicate address detection; IPv4
// addresses get the subnet's broadcast address, as ip addr add … brd +.
func addrMsg(index int32, p netip.Prefix) *nl.NetlinkRequest {
	req := nl.NewNetlinkRequest(unix.RTM_NEWADDR, unix.NLM_F_CREATE|unix.NLM_F_EXCL|unix.NLM_F_ACK)
	family := unix.AF_INET
	if p.Addr().Is6() {
		family = unix.AF_INET6
	}
	msg := nl.NewIfAddrmsg(family)
	msg.Index = uint32(index)
	msg.Prefixlen = uint8(p.Bits())
	msg.Flags = unix.IFA_F_NODAD
	req.AddData(msg)
	ip := p.Addr().AsSlice()
	req.AddData(nl.NewRtAttr(unix.IFA_LOCAL, ip))
	req.AddData(nl.NewRtAttr(unix.IFA_ADDRESS, ip))
	if brd, ok := broadcast(p); ok {
		req.AddData(nl.NewRtAttr(unix.IFA_BROADCAST, brd))
	}
	return req
}

func broadcast(p netip.Prefix) ([]byte, bool) {
	if !p.Addr().Is4() || p.Bits() >= 31 {
		return nil, false
	}
	a := p.Addr().As4()
	v := binary.BigEndian.Uint32(a[:]) | (1<<(32-p.Bits()) - 1)
	return binary.BigEndian.AppendUint32(nil, v), true
}

// index returns the ifindex of a link, cached: nslab's links keep their
// index for as long as they live.
func (c *Conn) index(ns, name string) (int32, error) {
	if idx, ok := c.indexes.load(ns, name); ok {
		return idx, nil
	}
	s, err := c.sock(ns)
	if err != nil {
		return 0, err
	}
	req, _ := linkMsg(unix.RTM_GETLINK, 0, 0, name)
	req.Sockets = map[int]*nl.SocketHandle{unix.NETLINK_ROUTE: s.raw}
	msgs, err := req.Execute(unix.NETLINK_ROUTE, unix.RTM_NEWLINK)
	if errors.Is(err, unix.ENODEV) {
		return 0, fmt.Errorf("no link named %s", name)
	}
	if err != nil {
		return 0, err
	}
	if len(msgs) != 1 || len(msgs[0]) < unix.SizeofIfInfomsg {
		return 0, fmt.Errorf("looking up link %s: the kernel answered %d messages", name, len(msgs))
	}
	idx := nl.DeserializeIfInfomsg(msgs[0]).Index
	c.indexes.store(ns, name, idx)
	return idx, nil
}

// forgetIndexes drops cached indexes of a namespace.
func (c *Conn) forgetIndexes(ns string) { c.indexes.forget(ns) }
