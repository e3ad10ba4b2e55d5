package topology

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Kinds of node interface (Interface.Kind). A veth is the end of a cable;
// the others are made inside the node, on or over its other interfaces.
const (
	KindVeth    = "veth"
	KindVLAN    = "vlan"
	KindDummy   = "dummy"
	KindMacvlan = "macvlan"
	KindIPvlan  = "ipvlan"
	KindBond    = "bond"
	KindVRF     = "vrf"
)

// Kinds lists the interface kinds in the order the format reference
// gives them.
var Kinds = []string{KindVeth, KindVLAN, KindDummy, KindMacvlan, KindIPvlan, KindBond, KindVRF}

// VLAN protocols (Interface.Protocol).
const (
	VLAN8021Q  = "802.1Q"
	VLAN8021AD = "802.1ad"
)

// Modes of the kinds that have one; the first is the default.
var (
	MacvlanModes = []string{"bridge", "private", "vepa", "passthru"}
	IPvlanModes  = []string{"l3", "l2", "l3s"}
	BondModes    = []string{"balance-rr", "active-backup", "balance-xor", "broadcast", "802.3ad", "balance-tlb", "balance-alb"}
)

// DefaultMiimon is the link monitoring interval of a bond that does not
// set miimon: without one (the kernel's default of 0) a bond never
// notices a member's cable going down and never fails over.
const DefaultMiimon = 100 * time.Millisecond

// Reserved routing tables, which a vrf may not take.
var reservedTables = map[int]string{0: "unspec", 253: "default", 254: "main", 255: "local"}

// kindKeys are the keys each kind allows besides kind, addresses and mtu.
var kindKeys = map[string][]string{
	KindVeth:    {"link", "subnets", "mac", "shape", "underlay", "vlan", "vlans"},
	KindVLAN:    {"parent", "id", "protocol", "subnets", "mac"},
	KindDummy:   {"mac"},
	KindMacvlan: {"parent", "mode", "mac"},
	KindIPvlan:  {"parent", "mode"},
	KindBond:    {"members", "mode", "miimon", "primary", "lacp-rate", "subnets", "mac"},
	KindVRF:     {"table", "members"},
}

// kindDecl is what the file says of an interface's kind, with positions.
type kindDecl struct {
	keys      map[string]Pos // every key written, where
	parentPos Pos
	idPos     Pos
	modePos   Pos
	tablePos  Pos
	primPos   Pos
	members   []string
	memberPos []Pos
}

// nodeIfaceFields are the keys of a node's interface: those of a host's
// (a cable's end) and those of the other kinds.
var nodeIfaceFields = func() map[string]field[*ifaceDecl] {
	m := map[string]field[*ifaceDecl]{}
	for k, f := range ifaceFields {
		m[k] = f
	}
	m["kind"] = decodeKind
	m["parent"] = decodeParent
	m["id"] = decodeVLANID
	m["protocol"] = decodeProtocol
	m["mode"] = decodeMode
	m["members"] = decodeMembers
	m["miimon"] = decodeMiimon
	m["primary"] = decodePrimary
	m["lacp-rate"] = decodeLACPRate
	m["table"] = decodeTable
	// Each key is recorded, for the check against the kind.
	for k, f := range m {
		m[k] = func(p *parser, d *ifaceDecl, e entry, path string) {
			if d.kd.keys == nil {
				d.kd.keys = map[string]Pos{}
			}
			d.kd.keys[k] = e.keyPos
			f(p, d, e, path)
		}
	}
	return m
}()

func decodeKind(p *parser, d *ifaceDecl, e entry, path string) {
	s, pos, ok := p.str(e.val, path)
	if !ok {
		return
	}
	if !slices.Contains(Kinds, s) {
		msg := fmt.Sprintf("%s: unknown interface kind %q (kinds: %s)", path, s, strings.Join(Kinds, ", "))
		if near := closest(s, Kinds); near != "" {
			msg = fmt.Sprintf("%s: unknown interface kind %q; did you mean %q? (kinds: %s)", path, s, near, strings.Join(Kinds, ", "))
		}
		p.errorf(pos, "%s", msg)
		d.bad = true
		return
	}
	d.it.Kind, d.it.KindPos = s, pos
}

func decodeParent(p *parser, d *ifaceDecl, e entry, path string) {
	s, pos, ok := p.str(e.val, path)
	if !ok {
		return
	}
	if err := ValidInterfaceName(s); err != nil {
		p.errorf(pos, "%s: %v", path, err)
		return
	}
	d.it.Parent, d.kd.parentPos = s, pos
}

// decodeVLANID reads a VLAN id: 1 to 4094.
func decodeVLANID(p *parser, d *ifaceDecl, e entry, path string) {
	id, pos, ok := p.integer(e.val, path, math.MinInt32, math.MaxInt32)
	if !ok {
		return
	}
	if id < 1 || id > 4094 {
		p.errorf(pos, "%s: VLAN id %d is out of range: it must be from 1 to 4094 (0 tags priority frames without a VLAN, 4095 is reserved)", path, id)
		return
	}
	d.it.VLAN, d.kd.idPos = id, pos
}

func decodeProtocol(p *parser, d *ifaceDecl, e entry, path string) {
	s, pos, ok := p.str(e.val, path)
	if !ok {
		return
	}
	switch strings.ToLower(s) {
	case "802.1q":
		d.it.Protocol = VLAN8021Q
	case "802.1ad":
		d.it.Protocol = VLAN8021AD
	default:
		p.errorf(pos, "%s: unknown VLAN protocol %q: write 802.1Q (the default) or 802.1ad (an outer, service tag)", path, s)
	}
}

func decodeMode(p *parser, d *ifaceDecl, e entry, path string) {
	s, pos, ok := p.str(e.val, path)
	if ok {
		d.it.Mode, d.kd.modePos = s, pos
	}
}

func decodeMembers(p *parser, d *ifaceDecl, e entry, path string) {
	for i, n := range p.list(e.val, path, true) {
		s, pos, ok := p.str(n, listPath(path, i))
		if !ok {
			continue
		}
		if err := ValidInterfaceName(s); err != nil {
			p.errorf(pos, "%s: %v", listPath(path, i), err)
			continue
		}
		if j := slices.Index(d.kd.members, s); j >= 0 {
			p.errorf(pos, "%s: %s is listed twice (first at %s)", listPath(path, i), s, d.kd.memberPos[j])
			continue
		}
		d.kd.members = append(d.kd.members, s)
		d.kd.memberPos = append(d.kd.memberPos, pos)
	}
	d.it.Members = d.kd.members
}

func decodeMiimon(p *parser, d *ifaceDecl, e entry, path string) {
	if n := p.deref(e.val); n != nil && typeOf(n) == tagInt && n.Value == "0" {
		d.bondOpts().Miimon = -1 // off
		return
	}
	var v time.Duration
	p.span(&v, e, path, time.Millisecond, time.Minute)
	if v%time.Millisecond != 0 {
		_, pos, _ := p.str(e.val, path)
		p.errorf(pos, "%s: the kernel counts miimon in whole milliseconds: write %s", path, v.Round(time.Millisecond))
		return
	}
	if v > 0 {
		d.bondOpts().Miimon = v
	}
}

func decodePrimary(p *parser, d *ifaceDecl, e entry, path string) {
	s, pos, ok := p.str(e.val, path)
	if ok {
		d.bondOpts().Primary, d.kd.primPos = s, pos
	}
}

func decodeLACPRate(p *parser, d *ifaceDecl, e entry, path string) {
	s, pos, ok := p.str(e.val, path)
	if !ok {
		return
	}
	if s != "slow" && s != "fast" {
		p.errorf(pos, "%s: lacp-rate %q: write slow (an LACPDU every 30 s, the default) or fast (every second)", path, s)
		return
	}
	d.bondOpts().LACPRate = s
}

func decodeTable(p *parser, d *ifaceDecl, e entry, path string) {
	t, pos, ok := p.integer(e.val, path, 0, math.MaxUint32)
	if !ok {
		return
	}
	if name, res := reservedTables[t]; res {
		p.errorf(pos, "%s: table %d is the kernel's %s table: give the vrf a table of its own, such as 10", path, t, name)
		return
	}
	d.it.Table, d.kd.tablePos = t, pos
}

func (d *ifaceDecl) bondOpts() *BondOpts {
	if d.it.Bond == nil {
		d.it.Bond = &BondOpts{}
	}
	return d.it.Bond
}

// kindOf is the kind of an interface, KindVeth when none is written.
func ifKind(i *Interface) string {
	if i.Kind == "" {
		return KindVeth
	}
	return i.Kind
}

// IsCable reports whether the interface is the end of a cable (a veth).
func (i *Interface) IsCable() bool { return ifKind(i) == KindVeth }

// checkKindKeys checks the keys of each node interface against its kind,
// fills in defaults and what a vlan's name says, and keeps a link off an
// interface that is not a cable's end. It runs before links are resolved.
func (p *parser) checkKindKeys() {
	for _, nd := range p.nodeList {
		for _, d := range nd.ifaces {
			p.checkKindKeysOf(nd, d)
		}
	}
}

func (p *parser) checkKindKeysOf(nd *nodeDecl, d *ifaceDecl) {
	it := d.it
	kind := ifKind(it)
	if it.KindPos.Line == 0 {
		it.KindPos = it.Pos
	}
	allowed := append([]string{"kind", "addresses", "mtu"}, kindKeys[kind]...)
	for _, k := range slices.Sorted(maps.Keys(d.kd.keys)) {
		if slices.Contains(allowed, k) {
			continue
		}
		pos := d.kd.keys[k]
		switch {
		case k == "link":
			p.errorf(pos, "%s: an interface of kind %s has no cable of its own%s; remove link, or remove kind for a cable's end",
				it.Ref(), kind, map[string]string{KindVLAN: " (it rides on its parent's)", KindMacvlan: " (it rides on its parent's)", KindIPvlan: " (it rides on its parent's)", KindBond: " (its members have theirs)"}[kind])
		case k == "shape":
			p.errorf(pos, "%s: shape is for a cable's end; shape the cable of %s", it.Ref(), map[bool]string{true: "its parent", false: "a member"}[kind != KindBond])
		default:
			p.errorf(pos, "%s: %s is not a key of an interface of kind %s (its keys: %s)%s", it.Ref(), k, kind, quoteList(slices.Sorted(slices.Values(allowed))), kindsWithKey(k))
		}
	}
	if kind != KindVeth {
		d.link, d.bad = "", true
		it.Shape = nil
	}
	switch kind {
	case KindVLAN:
		p.vlanDefaults(d)
	case KindMacvlan, KindIPvlan:
		if it.Parent == "" {
			p.errorf(it.KindPos, "%s: a %s needs parent: the interface it rides on", it.Ref(), kind)
		}
		p.checkMode(d, map[string][]string{KindMacvlan: MacvlanModes, KindIPvlan: IPvlanModes}[kind])
	case KindBond:
		if len(it.Members) == 0 {
			p.errorf(it.KindPos, "%s: a bond needs members: the interfaces (cable ends of %s) it bonds", it.Ref(), it.Node)
		}
		p.checkMode(d, BondModes)
		b := d.bondOpts()
		switch {
		case b.Miimon == 0:
			b.Miimon = DefaultMiimon
		case b.Miimon < 0:
			b.Miimon = 0
		}
		if b.Primary != "" && it.Mode != "active-backup" && it.Mode != "balance-tlb" && it.Mode != "balance-alb" {
			p.errorf(d.kd.primPos, "%s: primary is for a bond of mode active-backup, balance-tlb or balance-alb; this one is %s", it.Ref(), it.Mode)
		}
		if b.LACPRate != "" && it.Mode != "802.3ad" {
			p.errorf(d.kd.keys["lacp-rate"], "%s: lacp-rate is for a bond of mode 802.3ad; this one is %s", it.Ref(), it.Mode)
		}
	case KindVRF:
		if d.kd.tablePos.Line == 0 && d.kd.keys["table"].Line == 0 {
			p.errorf(it.KindPos, "%s: a vrf needs table: the number of its routing table, such as 10", it.Ref())
		}
	}
}

// kindsWithKey names the kinds that have a key, as a hint.
func kindsWithKey(k string) string {
	var ks []string
	for _, kind := range Kinds {
		if slices.Contains(kindKeys[kind], k) {
			ks = append(ks, kind)
		}
	}
	if len(ks) == 0 {
		return ""
	}
	return fmt.Sprintf("; %s is a key of kind %s", k, strings.Join(ks, ", "))
}

// checkMode checks a mode against the kind's, or sets its default.
func (p *parser) checkMode(d *ifaceDecl, modes []string) {
	it := d.it
	switch {
	case it.Mode == "":
		it.Mode = modes[0]
	case !slices.Contains(modes, it.Mode):
		p.errorf(d.kd.modePos, "%s: a %s has no mode %q (modes: %s)", it.Ref(), it.Kind, it.Mode, strings.Join(modes, ", "))
	}
}

// vlanDefaults takes a vlan's parent and id from its name PARENT.ID when
// the file gives neither.
func (p *parser) vlanDefaults(d *ifaceDecl) {
	it := d.it
	if it.Protocol == "" {
		it.Protocol = VLAN8021Q
	}
	_, idWritten := d.kd.keys["id"]
	if it.Parent == "" && !idWritten {
		if dot := strings.LastIndexByte(it.Name, '.'); dot > 0 {
			if id, err := strconv.Atoi(it.Name[dot+1:]); err == nil && id >= 1 && id <= 4094 && plainDecimal(it.Name[dot+1:]) == nil {
				it.Parent, it.VLAN = it.Name[:dot], id
				d.kd.parentPos, d.kd.idPos = it.Pos, it.Pos
				return
			}
		}
	}
	if it.Parent == "" && d.kd.keys["parent"].Line == 0 {
		p.errorf(it.KindPos, "%s: a vlan needs parent: the interface that carries its tagged frames (or a name PARENT.ID such as eth0.10)", it.Ref())
	}
	if !idWritten {
		p.errorf(it.KindPos, "%s: a vlan needs id: its VLAN id, from 1 to 4094 (or a name PARENT.ID such as eth0.10)", it.Ref())
	}
}

// checkKinds checks what the interfaces of each node say of each other:
// parents, members, loops, VLAN ids, tables. It runs once links are
// resolved and sets Master on enslaved interfaces.
func (p *parser) checkKinds() {
	for _, nd := range p.nodeList {
		p.checkParents(nd)
		p.checkMembers(nd)
	}
}

// parentKinds are the kinds a sub-interface may ride on.
var parentKinds = map[string][]string{
	KindVLAN:    {KindVeth, KindBond, KindVLAN, KindMacvlan},
	KindMacvlan: {KindVeth, KindBond, KindVLAN},
	KindIPvlan:  {KindVeth, KindBond, KindVLAN},
}

func (p *parser) checkParents(nd *nodeDecl) {
	type tagKey struct {
		parent, proto string
		id            int
	}
	tags := map[tagKey]*ifaceDecl{}
	uppers := map[string]map[string]*ifaceDecl{} // parent -> kind -> first sub-interface
	for _, d := range nd.ifaces {
		it := d.it
		kinds, sub := parentKinds[it.Kind]
		if !sub || it.Parent == "" {
			continue
		}
		pd := nd.byName[it.Parent]
		switch {
		case pd == nil:
			p.errorf(d.kd.parentPos, "%s: parent %s: node %s has no interface %q %s", it.Ref(), it.Parent, nd.n.Name, it.Parent,
				choices("interfaces", it.Parent, names(nd.n.Interfaces, ifName)))
			continue
		case pd == d:
			p.errorf(d.kd.parentPos, "%s: an interface cannot be its own parent", it.Ref())
			continue
		case !slices.Contains(kinds, ifKind(pd.it)):
			p.errorf(d.kd.parentPos, "%s: parent %s is a %s, which carries no frames for a %s; a %s rides on a %s", it.Ref(), it.Parent, ifKind(pd.it), it.Kind, it.Kind, orList(kinds))
			continue
		}
		if loop := parentLoop(nd, d); loop != "" {
			p.errorf(d.kd.parentPos, "%s: parents form a loop: %s; a sub-interface rides on a cable's end or a bond in the end", it.Ref(), loop)
			continue
		}
		if it.Kind == KindVLAN {
			k := tagKey{it.Parent, it.Protocol, it.VLAN}
			if first, dup := tags[k]; dup {
				p.errorf(d.kd.idPos, "%s: %s already has a %s sub-interface with VLAN id %d: %s (at %s)", it.Ref(), it.Parent, it.Protocol, it.VLAN, first.it.Name, first.it.Pos)
			} else {
				tags[k] = d
			}
		}
		if uppers[it.Parent] == nil {
			uppers[it.Parent] = map[string]*ifaceDecl{}
		}
		u := uppers[it.Parent]
		if it.Kind == KindMacvlan && u[KindIPvlan] != nil || it.Kind == KindIPvlan && u[KindMacvlan] != nil {
			other := u[KindIPvlan]
			if other == nil {
				other = u[KindMacvlan]
			}
			p.errorf(d.kd.parentPos, "%s: parent %s already carries %s %s (at %s); the kernel does not put macvlan and ipvlan on one parent", it.Ref(), it.Parent, other.it.Kind, other.it.Name, other.it.Pos)
		}
		if it.Kind == KindMacvlan && u[KindMacvlan] != nil && (it.Mode == "passthru" || u[KindMacvlan].it.Mode == "passthru") {
			p.errorf(d.kd.parentPos, "%s: parent %s already carries macvlan %s (at %s); a passthru macvlan must be its parent's only one", it.Ref(), it.Parent, u[KindMacvlan].it.Name, u[KindMacvlan].it.Pos)
		}
		if u[it.Kind] == nil {
			u[it.Kind] = d
		}
	}
}

// parentLoop returns the chain of parents from d when it comes back to
// an interface already on it.
func parentLoop(nd *nodeDecl, d *ifaceDecl) string {
	chain := []string{d.it.Name}
	for x := d; ; {
		if _, sub := parentKinds[x.it.Kind]; !sub || x.it.Parent == "" {
			return ""
		}
		next := nd.byName[x.it.Parent]
		if next == nil {
			return ""
		}
		chain = append(chain, next.it.Name)
		if next == d {
			return strings.Join(chain, " -> ")
		}
		if slices.Contains(chain[:len(chain)-1], next.it.Name) {
			return "" // a loop further on, reported at its own interfaces
		}
		x = next
	}
}

func orList(s []string) string {
	if len(s) < 2 {
		return strings.Join(s, "")
	}
	return strings.Join(s[:len(s)-1], ", ") + " or " + s[len(s)-1]
}

// memberKinds are the kinds a bond or vrf may enslave.
var memberKinds = map[string][]string{
	KindBond: {KindVeth},
	KindVRF:  {KindVeth, KindVLAN, KindBond, KindDummy, KindMacvlan, KindIPvlan},
}

func (p *parser) checkMembers(nd *nodeDecl) {
	owner := map[string]*ifaceDecl{} // member -> its bond or vrf
	tables := map[int]*ifaceDecl{}
	for _, d := range nd.ifaces {
		it := d.it
		kinds, ok := memberKinds[it.Kind]
		if !ok {
			continue
		}
		if it.Kind == KindVRF && it.Table != 0 {
			if first, dup := tables[it.Table]; dup {
				p.errorf(d.kd.tablePos, "%s: table %d is already the table of vrf %s (at %s); each vrf has a table of its own", it.Ref(), it.Table, first.it.Name, first.kd.tablePos)
			} else {
				tables[it.Table] = d
			}
		}
		for i, m := range d.kd.members {
			pos := d.kd.memberPos[i]
			md := nd.byName[m]
			switch {
			case md == nil:
				p.errorf(pos, "%s: member %s: node %s has no interface %q %s", it.Ref(), m, nd.n.Name, m, choices("interfaces", m, names(nd.n.Interfaces, ifName)))
				continue
			case md == d:
				p.errorf(pos, "%s: an interface cannot be its own member", it.Ref())
				continue
			case !slices.Contains(kinds, ifKind(md.it)):
				msg := fmt.Sprintf("%s: member %s is a %s; a %s enslaves a %s", it.Ref(), m, ifKind(md.it), it.Kind, orList(kinds))
				if it.Kind == KindBond {
					msg += " (the end of a cable of the node)"
				}
				p.errorf(pos, "%s", msg)
				continue
			}
			if first, dup := owner[m]; dup && first.it.Kind == it.Kind {
				p.errorf(pos, "%s: %s is already a member of %s %s (at %s); an interface has one master", it.Ref(), m, first.it.Kind, first.it.Name, first.it.Pos)
				continue
			}
			if first, dup := owner[m]; dup {
				bond := first
				if bond.it.Kind != KindBond {
					bond = d
				}
				p.errorf(pos, "%s: %s is a member of bond %s (at %s); make the bond %s the vrf's member instead", it.Ref(), m, bond.it.Name, bond.it.Pos, bond.it.Name)
				continue
			}
			owner[m] = d
			md.it.Master = it.Name
		}
		if it.Kind == KindBond {
			p.checkBond(nd, d)
		}
	}
	// A bond member carries nothing of its own.
	for _, d := range nd.ifaces {
		o := owner[d.it.Name]
		if o == nil || o.it.Kind != KindBond {
			continue
		}
		if len(d.addrs) > 0 {
			p.errorf(d.addrPos[0], "%s is a member of bond %s (at %s) and carries no addresses: put them on %s", d.it.Ref(), o.it.Name, o.it.Pos, o.it.Name)
		}
		if len(d.subnets.pfxs) > 0 {
			p.errorf(d.subnets.key, "%s is a member of bond %s (at %s): write subnets on %s", d.it.Ref(), o.it.Name, o.it.Pos, o.it.Name)
		}
		if d.it.MAC != nil {
			p.errorf(d.macPos, "%s is a member of bond %s (at %s), which gives its members its own MAC: set mac on %s", d.it.Ref(), o.it.Name, o.it.Pos, o.it.Name)
		}
		if pd := p.subOn(nd, d.it.Name); pd != nil {
			p.errorf(pd.kd.parentPos, "%s: parent %s is a member of bond %s (at %s): put the %s on %s", pd.it.Ref(), d.it.Name, o.it.Name, o.it.Pos, pd.it.Kind, o.it.Name)
		}
	}
}

// subOn returns the first sub-interface of the node on parent.
func (p *parser) subOn(nd *nodeDecl, parent string) *ifaceDecl {
	for _, d := range nd.ifaces {
		if _, sub := parentKinds[d.it.Kind]; sub && d.it.Parent == parent {
			return d
		}
	}
	return nil
}

// checkBond checks the primary of a bond and that its members' cables
// reach one segment: members on bridges that no trunk joins would leave
// the bond's backup member facing other hosts than the active one.
func (p *parser) checkBond(nd *nodeDecl, d *ifaceDecl) {
	it := d.it
	if b := it.Bond; b != nil && b.Primary != "" && !slices.Contains(d.kd.members, b.Primary) {
		p.errorf(d.kd.primPos, "%s: primary %s is not a member of the bond (members: %s)", it.Ref(), b.Primary, strings.Join(d.kd.members, ", "))
	}
	root := p.lab.bridgeRoots()
	var first *Interface
	for _, m := range d.kd.members {
		md := nd.byName[m]
		if md == nil || md.it.Link == nil || md.it.Link.Kind != Port {
			continue
		}
		if first == nil {
			first = md.it
			continue
		}
		if a, b := root[first.Link.Bridge], root[md.it.Link.Bridge]; a != b {
			p.errorf(md.it.Link.Pos, "%s: members %s (on bridge %s) and %s (on bridge %s) of bond %s are on two segments; join the bridges with a trunk (link: on a bridge) so that each member reaches the same hosts",
				md.it.Ref(), first.Name, first.Link.Bridge.Name, md.it.Name, md.it.Link.Bridge.Name, it.Name)
		}
	}
}

// checkSubMTUs refuses a sub-interface whose MTU is larger than its
// parent's: its frames ride inside the parent's.
func (p *parser) checkSubMTUs() {
	for _, nd := range p.nodeList {
		for _, d := range nd.ifaces {
			if _, sub := parentKinds[d.it.Kind]; !sub || d.it.MTU == 0 {
				continue
			}
			pd := nd.byName[d.it.Parent]
			if pd == nil || parentLoop(nd, d) != "" {
				continue
			}
			if pm := effectiveMTU(nd, pd); d.it.MTU > pm {
				p.errorf(d.mtuPos, "mtu %d of %s is larger than the mtu %d of its parent %s; a sub-interface's frames ride in its parent's: raise the parent's mtu or lower this one",
					d.it.MTU, d.it.Ref(), pm, pd.it.Name)
			}
		}
	}
}

// effectiveMTU is the MTU an interface will have: its own, else its
// parent's for a sub-interface, else the kernel's 1500.
func effectiveMTU(nd *nodeDecl, d *ifaceDecl) int {
	for hop := 0; hop <= len(nd.ifaces); hop++ {
		if d.it.MTU != 0 {
			return d.it.MTU
		}
		if _, sub := parentKinds[d.it.Kind]; !sub || nd.byName[d.it.Parent] == nil {
			break
		}
		d = nd.byName[d.it.Parent]
	}
	return 1500
}

// checkVRFRoutes resolves the vrf of routes.
func (p *parser) checkVRFRoutes(nd *nodeDecl) {
	for _, r := range nd.routes {
		if r.vrf == "" {
			continue
		}
		vd := nd.byName[r.vrf]
		switch {
		case vd == nil || vd.it.Kind != KindVRF:
			var vrfs []string
			for _, d := range nd.ifaces {
				if d.it.Kind == KindVRF {
					vrfs = append(vrfs, d.it.Name)
				}
			}
			p.errorf(r.vrfPos, "route vrf %s: node %s has no vrf %q %s", r.vrf, nd.n.Name, r.vrf, choices("vrfs", r.vrf, vrfs))
			r.ok = false
		case r.r.Dev != "" && nd.byName[r.r.Dev] != nil && vrfOf(nd, nd.byName[r.r.Dev]) != r.vrf:
			p.errorf(r.devPos, "route dev %s: %s is not in vrf %s; a route of the vrf goes out of one of its members", r.r.Dev, r.r.Dev, r.vrf)
			r.ok = false
		default:
			r.r.VRF, r.r.Table = r.vrf, vd.it.Table
		}
	}
	nd.n.Routes = nd.n.Routes[:0]
	for _, r := range nd.routes {
		if r.ok {
			nd.n.Routes = append(nd.n.Routes, r.r)
		}
	}
}

// vrfOf is the vrf an interface is in: directly, or through its bond.
func vrfOf(nd *nodeDecl, d *ifaceDecl) string {
	for hop := 0; hop < 3 && d != nil; hop++ {
		if d.it.Kind == KindVRF {
			return d.it.Name
		}
		if d.it.Master == "" {
			return ""
		}
		d = nd.byName[d.it.Master]
	}
	return ""
}
