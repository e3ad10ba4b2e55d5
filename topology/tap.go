package topology

import (
	"slices"
	"strings"
)

// Tap is a tap device in the root namespace, a port of a lab bridge: the
// place where a virtual machine plugs into the lab (qemu -nic
// tap,ifname=KERNELNAME,script=no). The guest configures its own
// addresses; nslab gives the tap none. The tap is persistent: it stays
// while VMs come and go, until down.
type Tap struct {
	Name string
	// Bridge is the bridge the tap is a port of.
	Bridge *Bridge
	// User and Group may open the tap without CAP_NET_ADMIN (a VM run by
	// that user); empty: root only. A name or a number.
	User, Group string
	// VLAN is the VLAN of the VM's untagged frames on a VLAN-filtering
	// bridge (vlan:), 0 for the bridge's default.
	VLAN int
	Pos  Pos
}

// Taps returns every tap of the lab, by bridge then name.
func (l *Lab) Taps() []*Tap {
	var out []*Tap
	for _, b := range l.Bridges {
		out = append(out, b.Taps...)
	}
	return out
}

type tapDecl struct {
	t     *Tap
	vlans vlanDecl
}

var tapFields = map[string]field[*tapDecl]{
	"user":  func(p *parser, d *tapDecl, e entry, path string) { d.t.User = p.tapOwner(e, path) },
	"group": func(p *parser, d *tapDecl, e entry, path string) { d.t.Group = p.tapOwner(e, path) },
	"vlan": func(p *parser, d *tapDecl, e entry, path string) {
		p.decodePVID(&d.vlans, e, path)
		d.t.VLAN = d.vlans.pvid
	},
}

func (p *parser) tapOwner(e entry, path string) string {
	s, pos, ok := p.str(e.val, path)
	if !ok {
		return ""
	}
	if err := ValidUser(s); err != nil {
		p.errorf(pos, "%s: %v", path, err)
		return ""
	}
	return s
}

func decodeTaps(p *parser, d *bridgeDecl, e entry, path string) {
	for _, te := range p.mapEntries(e.val, path, "tap name") {
		if err := ValidInterfaceName(te.key); err != nil {
			p.errorf(te.keyPos, "%v", err)
			continue
		}
		td := &tapDecl{t: &Tap{Name: te.key, Bridge: d.b, Pos: te.keyPos}}
		decodeFields(p, te.val, join(path, te.key), tapFields, td)
		d.b.Taps = append(d.b.Taps, td.t)
	}
	slices.SortFunc(d.b.Taps, func(a, b *Tap) int { return strings.Compare(a.Name, b.Name) })
}

// checkTaps rejects two taps of one name: a tap's name on the host is
// made from the lab's and its own.
func (p *parser) checkTaps() {
	seen := map[string]*Tap{}
	for _, d := range p.bridges {
		for _, t := range d.b.Taps {
			if o := seen[t.Name]; o != nil {
				p.errorf(t.Pos, "tap %s on bridge %s: bridge %s has a tap of that name (at %s): give each tap of the lab a name of its own", t.Name, d.b.Name, o.Bridge.Name, o.Pos)
				continue
			}
			seen[t.Name] = t
		}
	}
}
