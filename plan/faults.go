package plan

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nslab/nslab/topology"
)

// Faults are the faults in force in a running lab: cut cables and a
// partition. They are no drift: a repair keeps them (Reconcile). The lab
// keeps them in one record, rewritten whole at each change; later kinds
// of runtime faults belong here too.
type Faults struct {
	// Cuts are the interfaces whose cable is cut (see Cut), as
	// "node:iface" ("host:name" for a host interface), sorted.
	Cuts []string `json:"cuts,omitempty"`
	// Partition is the groups of nodes of the partition in force (see
	// Partition), none when the lab is whole.
	Partition [][]string `json:"partition,omitempty"`
	// Blocks are the one-way faults in force (see Block), in the order
	// they were made.
	Blocks []Block `json:"blocks,omitempty"`
	// Runner is the schedule or flap running on the lab, if any: what it
	// did is in the record as it does it, so that after it is killed the
	// next heal or down reverts it.
	Runner *Runner `json:"runner,omitempty"`
	// Shapes are the cables shaped at runtime (see Shape), by the
	// interface the shape was set on, sorted: heal puts back the file's
	// shaping of each, a repair keeps them.
	Shapes []RuntimeShape `json:"shapes,omitempty"`
}

// RuntimeShape is a shape set at runtime on the cable of Iface
// ("node:iface"): Shape, or no shaping at all when Off.
type RuntimeShape struct {
	Iface  string        `json:"iface"`
	Rate   uint64        `json:"rate,omitempty"`
	Delay  time.Duration `json:"delay,omitempty"`
	Jitter time.Duration `json:"jitter,omitempty"`
	Loss   float64       `json:"loss,omitempty"`
	// Duplicate, Reorder and Corrupt are percentages, as Loss.
	Duplicate float64 `json:"duplicate,omitempty"`
	Reorder   float64 `json:"reorder,omitempty"`
	Corrupt   float64 `json:"corrupt,omitempty"`
	Way       string  `json:"way,omitempty"`
	Off       bool    `json:"off,omitempty"`
	// NftLoss says the loss is drawn by nftables, not netem: the kernel
	// lacks sch_netem (see kernel.Shape).
	NftLoss bool `json:"nft_loss,omitempty"`
}

// Shape is the shape in force; nil when Off.
func (r RuntimeShape) Shape() *topology.Shape {
	if r.Off {
		return nil
	}
	return &topology.Shape{Rate: r.Rate, Delay: r.Delay, Jitter: r.Jitter, Loss: r.Loss,
		Duplicate: r.Duplicate, Reorder: r.Reorder, Corrupt: r.Corrupt, Way: r.Way}
}

// SetShape records s (nil: shaping off) as set at runtime on the cable of
// node:iface, in place of any runtime shape of that cable.
func (f *Faults) SetShape(lab *topology.Lab, node, iface string, s *topology.Shape) {
	ref := node + ":" + iface
	var link *topology.Link
	if i := ifaceByRef(lab, ref); i != nil {
		link = i.Link
	}
	f.Shapes = slices.DeleteFunc(f.Shapes, func(r RuntimeShape) bool {
		i := ifaceByRef(lab, r.Iface)
		return r.Iface == ref || link != nil && i != nil && i.Link == link
	})
	r := RuntimeShape{Iface: ref, Off: s == nil}
	if s != nil {
		r.Rate, r.Delay, r.Jitter, r.Loss, r.Way = s.Rate, s.Delay, s.Jitter, s.Loss, s.Way
		r.Duplicate, r.Reorder, r.Corrupt = s.Duplicate, s.Reorder, s.Corrupt
	}
	f.Shapes = append(f.Shapes, r)
	slices.SortFunc(f.Shapes, func(a, b RuntimeShape) int { return strings.Compare(a.Iface, b.Iface) })
}

// ShapedLinks are the cables that runtime shapes in force hold.
func (f *Faults) ShapedLinks(lab *topology.Lab) map[*topology.Link]bool {
	out := map[*topology.Link]bool{}
	if f == nil {
		return out
	}
	for _, r := range f.Shapes {
		if i := ifaceByRef(lab, r.Iface); i != nil && i.Link != nil {
			out[i.Link] = true
		}
	}
	return out
}

// Runner is a process that changes the lab's faults over time.
type Runner struct {
	PID     int       `json:"pid"`
	What    string    `json:"what"` // "schedule FILE", "flap ns1:eth0"
	Started time.Time `json:"started"`
}

// Block is a one-way fault: what the nodes From send to the nodes To is
// dropped on arrival, all of it or, with Loss (a percentage), a share
// drawn at random per packet; what To send to From passes.
type Block struct {
	From []string `json:"from"`
	To   []string `json:"to"`
	Loss float64  `json:"loss,omitempty"`
}

// String renders the block as nslab block takes it.
func (b Block) String() string {
	s := strings.Join(b.From, ",") + " -> " + strings.Join(b.To, ",")
	if b.Loss > 0 && b.Loss < 100 {
		s += " loss " + strconv.FormatFloat(b.Loss, 'f', -1, 64) + "%"
	}
	return s
}

// Empty reports whether no fault is in force.
func (f *Faults) Empty() bool {
	return f == nil || len(f.Cuts) == 0 && len(f.Partition) == 0 && len(f.Blocks) == 0 && f.Runner == nil && len(f.Shapes) == 0
}

// AddBlock records a block; one between the same nodes the same way
// replaces it.
func (f *Faults) AddBlock(b Block) {
	f.Blocks = slices.DeleteFunc(f.Blocks, func(o Block) bool {
		return slices.Equal(o.From, b.From) && slices.Equal(o.To, b.To)
	})
	f.Blocks = append(f.Blocks, b)
}

// SetCut records the cable of node:iface as cut (up false) or joined.
func (f *Faults) SetCut(node, iface string, up bool) {
	ref := node + ":" + iface
	f.Cuts = slices.DeleteFunc(f.Cuts, func(s string) bool { return s == ref })
	if !up {
		f.Cuts = append(f.Cuts, ref)
		slices.Sort(f.Cuts)
	}
}

// Prune forgets the cuts of cables that lab no longer has or that the
// plan p made anew (a cable made anew is whole), and a partition that
// names a node lab no longer has.
func (f *Faults) Prune(lab *topology.Lab, p *Plan) {
	made := map[*topology.Link]bool{}
	if p != nil && p.Made != nil {
		for _, l := range p.Made.Links {
			made[l] = true
		}
	}
	f.Cuts = slices.DeleteFunc(f.Cuts, func(ref string) bool {
		i := ifaceByRef(lab, ref)
		return i == nil || i.Link == nil || made[i.Link]
	})
	f.Shapes = slices.DeleteFunc(f.Shapes, func(r RuntimeShape) bool {
		i := ifaceByRef(lab, r.Iface)
		return i == nil || i.Link == nil || made[i.Link]
	})
	f.Blocks = slices.DeleteFunc(f.Blocks, func(b Block) bool {
		return slices.ContainsFunc(append(slices.Clone(b.From), b.To...), func(n string) bool { return lab.Node(n) == nil })
	})
	for _, g := range f.Partition {
		for _, n := range g {
			if lab.Node(n) == nil {
				f.Partition = nil
				return
			}
		}
	}
}

// cutEnds lists the kernel ends that cuts in force hold down, as
// namespace "\x00" name: the far end of each cut cable (see Cut).
func (f *Faults) cutEnds(lab *topology.Lab) map[string]bool {
	out := map[string]bool{}
	if f == nil {
		return out
	}
	for _, ref := range f.Cuts {
		i := ifaceByRef(lab, ref)
		if i == nil || i.Link == nil {
			continue
		}
		ns, name := farEnd(lab, i)
		out[ns+"\x00"+name] = true
	}
	return out
}

// ifaceByRef finds "node:iface" in lab; nil when it has none.
func ifaceByRef(lab *topology.Lab, ref string) *topology.Interface {
	node, iface, ok := strings.Cut(ref, ":")
	if !ok {
		return nil
	}
	i, err := findIface(lab, node, iface)
	if err != nil {
		return nil
	}
	return i
}

// Describe lists the faults in force as status shows them: "cut
// ns1:eth0", "partition {ns1} | {ns2}", "block ns1 -> ns2", "flap
// ns1:eth0 running (pid 42)", "shape ns1:eth0 rate 5mbit, delay 20ms".
func (f *Faults) Describe(alive func(pid int) bool) []string {
	if f.Empty() {
		return nil
	}
	var out []string
	for _, c := range f.Cuts {
		out = append(out, "cut "+c)
	}
	if len(f.Partition) > 0 {
		var g []string
		for _, x := range f.Partition {
			g = append(g, "{"+strings.Join(x, ", ")+"}")
		}
		out = append(out, "partition "+strings.Join(g, " | "))
	}
	for _, b := range f.Blocks {
		out = append(out, "block "+b.String())
	}
	for _, r := range f.Shapes {
		if s := r.Shape(); s != nil {
			str := s.String()
			if r.NftLoss {
				str = ViaNft(str, s.Loss)
			}
			out = append(out, "shape "+r.Iface+" "+str)
		} else {
			out = append(out, "shape "+r.Iface+" off")
		}
	}
	if r := f.Runner; r != nil {
		state := fmt.Sprintf("running (pid %d)", r.PID)
		if alive != nil && !alive(r.PID) {
			state = fmt.Sprintf("killed (pid %d): heal reverts what it left", r.PID)
		}
		out = append(out, r.What+" "+state)
	}
	return out
}

// ViaNft marks the loss of a shape rendered by topology.Shape.String as
// drawn by nftables: "rate 5mbit, loss 20% via nft".
func ViaNft(shape string, loss float64) string {
	l := "loss " + strconv.FormatFloat(loss, 'f', -1, 64) + "%"
	return strings.Replace(shape, l, l+" via nft", 1)
}
