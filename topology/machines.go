package topology

import (
	"maps"
	"net/netip"
	"slices"
	"strings"
)

// Machine is one of the hosts a lab spans (hosts: in the file): the
// machine nslab runs on (local: true) or one reached over SSH. A lab
// without hosts: lives on the machine nslab runs on.
type Machine struct {
	Name string
	// SSH is the destination ssh is given: [user@]host, or a Host of
	// the user's ssh_config; "" for the local machine.
	SSH   string
	Local bool
	// Address is the machine's underlay address: the source and
	// destination of the VXLAN tunnels that carry the lab's cables and
	// segments between machines. It must be an address of the machine.
	Address netip.Addr
	// Sudo runs nslab on the machine through sudo -n (the SSH user is
	// not root; sudo must not ask for a password).
	Sudo bool
	Pos  Pos
	// Underlay is the interface that holds Address on the machine, as
	// read there when a lab is brought up (not written in the file);
	// zero when not known: a 1500-byte underlay is assumed.
	Underlay Underlay
}

// Underlay is the interface of a machine that holds its underlay
// address, with its MTU.
type Underlay struct {
	Dev string `json:"dev"`
	MTU int    `json:"mtu"`
}

// underlayMTU is the MTU of the machine's underlay: as read there, else
// 1500.
func (m *Machine) underlayMTU() int {
	if m.Underlay.MTU > 0 {
		return m.Underlay.MTU
	}
	return 1500
}

// Where is how the machine is reached, for messages: "local" or "ssh
// DEST".
func (m *Machine) Where() string {
	if m.Local {
		return "local"
	}
	return "ssh " + m.SSH
}

// Machine returns the machine of the given name, or nil.
func (l *Lab) Machine(name string) *Machine {
	for _, m := range l.Machines {
		if m.Name == name {
			return m
		}
	}
	return nil
}

// MultiHost reports whether the lab spans machines (it has hosts:).
func (l *Lab) MultiHost() bool { return len(l.Machines) > 0 }

type machineDecl struct {
	m          *Machine
	sshPos     Pos
	localPos   Pos
	addressPos Pos
}

var machineFields = map[string]field[*machineDecl]{
	"ssh":     decodeMachineSSH,
	"local":   func(p *parser, d *machineDecl, e entry, path string) { d.localPos = p.flag(&d.m.Local, e, path) },
	"address": decodeMachineAddress,
	"sudo":    func(p *parser, d *machineDecl, e entry, path string) { p.flag(&d.m.Sudo, e, path) },
}

func decodeMachines(p *parser, _ *parser, e entry, path string) {
	p.hostsPos = e.keyPos
	for _, me := range p.mapEntries(e.val, path, "host name") {
		if err := ValidNodeName(me.key); err != nil {
			p.errorf(me.keyPos, "%s", strings.Replace(err.Error(), "node", "host", 1))
			continue
		}
		d := &machineDecl{m: &Machine{Name: me.key, Pos: me.keyPos}}
		decodeFields(p, me.val, join(path, me.key), machineFields, d)
		p.machines = append(p.machines, d)
	}
	if len(p.machines) == 0 && len(p.errs) == 0 {
		p.errorf(e.keyPos, "hosts: is empty: list the machines the lab spans, or leave hosts: out for a lab on this machine")
	}
}

func decodeMachineSSH(p *parser, d *machineDecl, e entry, path string) {
	s, pos, ok := p.str(e.val, path)
	if !ok {
		return
	}
	d.sshPos = pos
	if s == "" || strings.HasPrefix(s, "-") || strings.ContainsAny(s, " \t\n\r'\"`$;|&<>\\") {
		p.errorf(pos, "%s: %q is not an ssh destination: write [user@]host or the name of a Host in your ssh_config (no spaces, quotes or leading '-')", path, s)
		return
	}
	d.m.SSH = s
}

func decodeMachineAddress(p *parser, d *machineDecl, e entry, path string) {
	s, pos, ok := p.str(e.val, path)
	if !ok {
		return
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" || !a.IsGlobalUnicast() && !a.IsPrivate() {
		p.errorf(pos, "%s: %q is not a unicast address: write the machine's own address the tunnels between machines use (as 192.0.2.10)", path, s)
		return
	}
	d.m.Address, d.addressPos = a, pos
}

func decodeNodeHost(p *parser, d *nodeDecl, e entry, path string) {
	s, pos, ok := p.str(e.val, path)
	if !ok {
		return
	}
	if s == "" {
		p.errorf(pos, "%s is empty: write the name of one of the lab's hosts:", path)
		return
	}
	d.host, d.hostPos = s, pos
}

// assembleMachines puts the machines in the model and checks them and the
// nodes' host: keys.
func (p *parser) assembleMachines() {
	l := p.lab
	var local *machineDecl
	byAddr := map[netip.Addr]*machineDecl{}
	for _, d := range p.machines {
		m := d.m
		switch {
		case m.Local && m.SSH != "":
			p.errorf(d.sshPos, "host %s is local: true and has ssh: one of the two: the machine nslab runs on is local, the others are reached by ssh", m.Name)
		case !m.Local && d.sshPos.Line == 0:
			p.errorf(m.Pos, "host %s says neither ssh: [user@]host nor local: true: say how nslab reaches it", m.Name)
		}
		if m.Local {
			if local != nil {
				p.errorf(d.localPos, "hosts %s and %s are both local: true; one machine runs nslab", local.m.Name, m.Name)
			}
			local = d
		}
		if m.Sudo && m.Local {
			p.errorf(m.Pos, "host %s is local: sudo: applies to hosts reached by ssh (run nslab itself with sudo)", m.Name)
		}
		if m.Address.IsValid() {
			if o := byAddr[m.Address]; o != nil {
				p.errorf(d.addressPos, "hosts %s and %s have the same address %s: each machine has its own", o.m.Name, m.Name, m.Address)
			}
			byAddr[m.Address] = d
		} else if len(p.machines) > 1 {
			p.errorf(m.Pos, "host %s has no address: write address: its own IP address, which the tunnels between the lab's machines use", m.Name)
		}
		l.Machines = append(l.Machines, m)
	}
	slices.SortFunc(l.Machines, func(a, b *Machine) int { return strings.Compare(a.Name, b.Name) })
	names := slices.Collect(maps.Keys(machineNames(l.Machines)))
	slices.Sort(names)
	for _, d := range p.nodeList {
		if d.host == "" {
			continue
		}
		if len(p.machines) == 0 {
			p.errorf(d.hostPos, "node %s names host %q but the lab has no hosts: list the machines under hosts: at the top of the file", d.n.Name, d.host)
			continue
		}
		if l.Machine(d.host) == nil {
			if near := closest(d.host, names); near != "" {
				p.errorf(d.hostPos, "node %s: no host named %q; did you mean %q?", d.n.Name, d.host, near)
			} else {
				p.errorf(d.hostPos, "node %s: no host named %q (hosts: %s)", d.n.Name, d.host, quoteList(names))
			}
			continue
		}
		d.n.Host = d.host
	}
}

func machineNames(ms []*Machine) map[string]bool {
	out := map[string]bool{}
	for _, m := range ms {
		out[m.Name] = true
	}
	return out
}

// checkMultiHost refuses what a lab across machines cannot do yet, at
// the line that asks for it.
func (p *parser) checkMultiHost() {
	l := p.lab
	if !l.MultiHost() {
		return
	}
	for _, lk := range l.Links {
		if lk.Kind == Trunk {
			p.errorf(lk.Pos, "a lab across hosts cannot have bridge trunks yet (%s): put the nodes of both bridges on one bridge, or the lab on one host", lk)
			return
		}
	}
	for _, o := range l.Overlays {
		p.errorf(o.Pos, "a lab across hosts cannot have overlays yet (%s): its segments already cross the machines in VXLAN", o.Name)
	}
	for _, b := range l.Bridges {
		if len(b.Taps) > 0 {
			p.errorf(b.Pos, "a lab across hosts cannot have taps yet (bridge %s)", b.Name)
		}
	}
}
