package main

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nslab/nslab/fleet"
	"github.com/nslab/nslab/lab"
	"github.com/nslab/nslab/plan"
	"github.com/nslab/nslab/topology"
	"github.com/spf13/cobra"
)

func newLink() *cobra.Command {
	link := &cobra.Command{
		Use:   "link",
		Short: "Cut a cable of a running lab, join it again, flap it or shape it",
		Long: `Cut a cable as when it is pulled out at its far end, or join it again.
The interface named sees its carrier drop and keeps its addresses and
routes; the far end (the bridge port, the host end or the other node's
interface) goes down. The lab's file is not changed: a cut cable stays cut
until it is joined again or made anew.

IFACE is NODE:IF, with NODE the bare node name when it is unique among
running labs, else LAB.NODE; LAB.host:IF names a host interface.

On a lab across machines brought up from here, the cable is cut on the
hosts that hold its ends (a cable between two machines at both ends), over
ssh; link shape, link flap, partition, block, heal and schedule work so
too.`,
	}
	for _, up := range []bool{false, true} {
		use, short, done := "down IFACE", "Cut the cable of an interface", "cut"
		if up {
			use, short, done = "up IFACE", "Join the cable of an interface again", "joined again"
		}
		link.AddCommand(&cobra.Command{
			Use:               use,
			Annotations:       privileged(),
			Short:             short,
			Example:           "  sudo nslab link " + strings.Fields(use)[0] + " ns1:eth0",
			Args:              args(cobra.ExactArgs(1)),
			ValidArgsFunction: completeIfaces,
			RunE: func(cmd *cobra.Command, a []string) error {
				l, node, iface, across, err := acrossIface(a[0])
				if err != nil {
					return err
				}
				if across {
					// A lab across machines: cut on the hosts that hold
					// the cable's ends.
					if err := fleet.Cut(cmd.Context(), l, node, iface, up, fleetOptions(lab.Options{Logf: logf})); err != nil {
						return err
					}
					fmt.Fprintf(cmd.OutOrStdout(), "cable of %s.%s:%s %s\n", l, node, iface, done)
					return nil
				}
				l, node, iface, err = parseIface(a[0])
				if err != nil {
					return err
				}
				if err := lab.Cut(cmd.Context(), l, node, iface, up, lab.Options{Logf: logf}); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "cable of %s.%s:%s %s\n", l, node, iface, done)
				return nil
			},
		})
	}
	link.AddCommand(newFlap(), newShape())
	return link
}

func newShape() *cobra.Command {
	var rate, loss, duplicate, reorder, corrupt, direction string
	var delay, jitter time.Duration
	cmd := &cobra.Command{
		Use:         "shape IFACE [off]",
		Annotations: privileged(),
		Short:       "Shape the cable of an interface at runtime, or take its shaping off",
		Long: `Shape the cable of an interface, both ways unless --direction says one
way (seen from IFACE), in place of the shaping the lab's file gives it;
"off" takes all shaping off the cable. The lab's file is not changed: the
shape is a fault in force, which nslab status lists, a repair keeps and
nslab heal LAB reverts (back to the file's shaping). Delay, jitter,
duplicate, reorder (which needs a delay) and corrupt need sch_netem, a
rate alone sch_tbf; a loss is netem's where the kernel has it, and
otherwise an nftables rule in the node's namespace (status shows "loss
20% via nft").`,
		Example: `  sudo nslab link shape ns1:eth0 --rate 5mbit --delay 20ms --loss 1%
  sudo nslab link shape ns1:eth0 off
  sudo nslab heal seed`,
		Args:              args(cobra.RangeArgs(1, 2)),
		ValidArgsFunction: completeIfaces,
		RunE: func(cmd *cobra.Command, a []string) error {
			var s *topology.Shape
			if len(a) == 2 {
				if a[1] != "off" {
					return &usageError{fmt.Errorf("%q: give the shape as flags (--rate 5mbit --delay 20ms), or off to take the shaping off", a[1])}
				}
				if cmd.Flags().NFlag() > 0 {
					return &usageError{fmt.Errorf("off takes no shape flags")}
				}
			} else {
				s = &topology.Shape{Delay: delay, Jitter: jitter}
				var err error
				if rate != "" {
					if s.Rate, err = topology.ParseRate(rate); err != nil {
						return &usageError{fmt.Errorf("--rate: %w", err)}
					}
				}
				for _, p := range []struct {
					flag, v string
					to      *float64
				}{{"loss", loss, &s.Loss}, {"duplicate", duplicate, &s.Duplicate}, {"reorder", reorder, &s.Reorder}, {"corrupt", corrupt, &s.Corrupt}} {
					if p.v == "" {
						continue
					}
					if *p.to, err = strconv.ParseFloat(strings.TrimSuffix(p.v, "%"), 64); err != nil || *p.to <= 0 || *p.to > 100 {
						return &usageError{fmt.Errorf("--%s %q: give a percentage above 0, at most 100 (--%s 1%%)", p.flag, p.v, p.flag)}
					}
				}
				if s.Reorder > 0 && s.Delay == 0 {
					return &usageError{fmt.Errorf("--reorder sends some packets at once ahead of delayed ones, so it needs a delay: add --delay (--delay 10ms --reorder 25%%)")}
				}
				switch direction {
				case "", "both":
				case topology.WayOut, topology.WayIn:
					s.Way = direction
				default:
					return &usageError{fmt.Errorf("--direction %q: write out (what leaves IFACE), in (what comes into it) or both", direction)}
				}
				if s.Rate == 0 && !s.Netem() {
					return &usageError{fmt.Errorf("give a shape (--rate, --delay, --jitter, --loss, --duplicate, --reorder, --corrupt), or off to take the shaping off")}
				}
			}
			l, node, iface, across, err := acrossIface(a[0])
			if err != nil {
				return err
			}
			shape := func() error {
				if across {
					return fleet.Shape(cmd.Context(), l, node, iface, s, fleetOptions(lab.Options{Logf: logf}))
				}
				return lab.Shape(cmd.Context(), l, node, iface, s, lab.Options{Logf: logf})
			}
			if !across {
				if l, node, iface, err = parseIface(a[0]); err != nil {
					return err
				}
			}
			if err := shape(); err != nil {
				if te := (*topology.Error)(nil); errors.As(err, &te) && te.Pos == (topology.Pos{}) {
					// A check of the shape given here, not of the file.
					return fmt.Errorf("shaping %s:%s: %s", node, iface, te.Msg)
				}
				return err
			}
			if s == nil {
				fmt.Fprintf(cmd.OutOrStdout(), "cable of %s.%s:%s unshaped (nslab heal %s puts back the file's shaping)\n", l, node, iface, l)
			} else {
				fmt.Fprintf(cmd.OutOrStdout(), "cable of %s.%s:%s shaped: %s (nslab heal %s puts back the file's shaping)\n", l, node, iface, s, l)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&rate, "rate", "", "rate limit, in bits per second (64kbit, 5mbit, 1gbit)")
	cmd.Flags().DurationVar(&delay, "delay", 0, "delay each way (20ms)")
	cmd.Flags().DurationVar(&jitter, "jitter", 0, "jitter of the delay (5ms)")
	cmd.Flags().StringVar(&loss, "loss", "", "share of packets lost, at random (1%)")
	cmd.Flags().StringVar(&duplicate, "duplicate", "", "share of packets sent twice (1%)")
	cmd.Flags().StringVar(&reorder, "reorder", "", "share of packets sent at once, ahead of delayed ones; needs --delay (25%)")
	cmd.Flags().StringVar(&corrupt, "corrupt", "", "share of packets sent with a bit flipped (0.1%)")
	cmd.Flags().StringVar(&direction, "direction", "", "out (what leaves IFACE) or in (what comes into it); both ways when left out")
	return cmd
}

// parseIface resolves NODE:IF, LAB.NODE:IF or LAB.host:IF.
func parseIface(ref string) (labName, node, iface string, err error) {
	nodeRef, iface, ok := strings.Cut(ref, ":")
	if !ok || iface == "" || nodeRef == "" {
		return "", "", "", &usageError{fmt.Errorf("%q: write NODE:IF, LAB.NODE:IF or LAB.host:IF", ref)}
	}
	if l, n, ok := plan.SplitNetnsName(nodeRef); ok && n == topology.HostNode {
		if _, err := lab.Topology(l); err != nil {
			return "", "", "", err
		}
		return l, n, iface, nil
	}
	if nodeRef == topology.HostNode {
		return "", "", "", &usageError{fmt.Errorf("%q: name the lab of a host interface, as LAB.host:%s", ref, iface)}
	}
	n, err := lab.FindNode(nodeRef)
	if err != nil {
		return "", "", "", err
	}
	return n.Lab, n.Name, iface, nil
}

func newPartition() *cobra.Command {
	var labName string
	cmd := &cobra.Command{
		Use:         "partition GROUP GROUP...",
		Annotations: privileged(),
		Short:       "Split a running lab into groups of nodes that do not reach each other",
		Long: `Split a running lab into groups of nodes that do not reach each other. A
GROUP is a comma-separated list of nodes; every node of a group drops what
comes from or goes to the addresses of the other groups' nodes (an nftables
table in its own namespace), on a shared segment as across routers, for
connections already open too. Nodes in no group, and the host, are left as
they are. nslab heal LAB takes the partition away; the lab's file is not
changed.`,
		Example: `  sudo nslab partition ns1 ns2,ns3
  sudo nslab heal seed`,
		ValidArgsFunction: completeGroups,
		Args:              args(cobra.MinimumNArgs(2)),
		RunE: func(cmd *cobra.Command, a []string) error {
			groups, across, err := acrossGroups(&labName, a, "a partition splits one lab")
			if err != nil {
				return err
			}
			if across {
				if err := fleet.Partition(cmd.Context(), labName, groups, fleetOptions(lab.Options{Logf: logf})); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "lab %s partitioned: %s\n", labName, groupsString(groups))
				return nil
			}
			for _, g := range a {
				nodes, err := nodeGroup(&labName, g, "a partition splits one lab")
				if err != nil {
					return err
				}
				groups = append(groups, nodes)
			}
			if err := lab.Partition(cmd.Context(), labName, groups, lab.Options{Logf: logf}); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "lab %s partitioned: %s\n", labName, groupsString(groups))
			return nil
		},
	}
	cmd.Flags().StringVar(&labName, "lab", "", "the lab, when node names are not unique among running labs")
	return cmd
}

// nodeGroup resolves a comma-separated list of nodes of one lab; the lab
// is *labName when set, and set to theirs.
func nodeGroup(labName *string, g, oneLab string) ([]string, error) {
	var nodes []string
	for _, ref := range strings.Split(g, ",") {
		if ref == "" {
			return nil, &usageError{fmt.Errorf("group %q: write nodes separated by commas (ns1,ns2)", g)}
		}
		n, err := lab.FindNode(qualify(*labName, ref))
		if err != nil {
			return nil, err
		}
		if *labName != "" && n.Lab != *labName {
			return nil, fmt.Errorf("node %s is in lab %s, not %s: %s", ref, n.Lab, *labName, oneLab)
		}
		*labName = n.Lab
		nodes = append(nodes, n.Name)
	}
	return nodes, nil
}

func newBlock() *cobra.Command {
	var labName, loss string
	cmd := &cobra.Command{
		Use:         "block FROM TO",
		Annotations: privileged(),
		Short:       "Drop what some nodes send to others, one way",
		Long: `Drop what the nodes FROM send to the nodes TO, one way: TO's nodes drop
what comes in from the addresses of FROM's (an nftables rule in their own
namespace), while what TO's nodes send to FROM's passes. FROM and TO are
comma-separated lists of nodes of one lab. With --loss, a share of the
packets is dropped, drawn at random per packet (nftables' numgen: this
works on kernels without netem). A block between the same nodes the same
way replaces the one before; partitions and other blocks hold beside it.
nslab heal LAB takes every block and the partition away; the lab's file is
not changed.`,
		Example: `  sudo nslab block ns1 ns2             # ns1's packets to ns2 are lost, ns2's to ns1 pass
  sudo nslab block ns1,ns2 ns3 --loss 20%
  sudo nslab heal seed`,
		ValidArgsFunction: completeGroups,
		Args:              args(cobra.ExactArgs(2)),
		RunE: func(cmd *cobra.Command, a []string) error {
			var b plan.Block
			var err error
			if b.Loss, err = parseLoss(loss); err != nil {
				return err
			}
			if g, across, err := acrossGroups(&labName, a, "a block is within one lab"); err != nil {
				return err
			} else if across {
				b.From, b.To = g[0], g[1]
				if err := fleet.Block(cmd.Context(), labName, b, fleetOptions(lab.Options{Logf: logf})); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "lab %s blocked: %s\n", labName, b)
				return nil
			}
			if b.From, err = nodeGroup(&labName, a[0], "a block is within one lab"); err != nil {
				return err
			}
			if b.To, err = nodeGroup(&labName, a[1], "a block is within one lab"); err != nil {
				return err
			}
			if err := lab.Block(cmd.Context(), labName, b, lab.Options{Logf: logf}); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "lab %s blocked: %s\n", labName, b)
			return nil
		},
	}
	cmd.Flags().StringVar(&labName, "lab", "", "the lab, when node names are not unique among running labs")
	cmd.Flags().StringVar(&loss, "loss", "", "drop this share of the packets, at random (1%, 0.5%), instead of all")
	return cmd
}

// parseLoss reads a loss flag: "" is all, else a percentage above 0 and
// below 100, with or without %.
func parseLoss(s string) (float64, error) {
	if s == "" {
		return 0, nil
	}
	v, err := strconv.ParseFloat(strings.TrimSuffix(s, "%"), 64)
	if err != nil || v <= 0 || v >= 100 {
		return 0, &usageError{fmt.Errorf("--loss %q: give a percentage above 0 and below 100 (--loss 10%%); leave it out to drop everything", s)}
	}
	return v, nil
}

// qualify makes a bare node name LAB.NODE when the lab is known.
func qualify(labName, ref string) string {
	if labName == "" || strings.Contains(ref, ".") {
		return ref
	}
	return plan.NetnsName(labName, ref)
}

func newHeal() *cobra.Command {
	return &cobra.Command{
		Use:         "heal LAB",
		Annotations: privileged(),
		Short:       "Take a partition and the blocks of a running lab away",
		Long: `Take the partition and the one-way blocks of a running lab away: every
node reaches the others again as the file says. A lab with neither is left
as it is, and heal says so (exit status 0).`,
		Args:              args(cobra.ExactArgs(1)),
		ValidArgsFunction: completeLabs,
		RunE: func(cmd *cobra.Command, a []string) error {
			heal := func() (bool, error) { return lab.Heal(cmd.Context(), a[0], lab.Options{Logf: logf}) }
			if fleet.Exists(a[0]) {
				// A lab across machines brought up here: every host.
				heal = func() (bool, error) { return fleet.Heal(cmd.Context(), a[0], fleetOptions(lab.Options{Logf: logf})) }
			} else if _, err := lab.Topology(a[0]); err != nil {
				return err
			}
			healed, err := heal()
			if err != nil {
				return err
			}
			if !healed {
				fmt.Fprintf(cmd.OutOrStdout(), "lab %s has no fault in force: nothing to heal\n", a[0])
				return nil
			}
			fmt.Fprintf(cmd.OutOrStdout(), "lab %s healed\n", a[0])
			return nil
		},
	}
}

// groupsString renders groups of nodes as partition prints them.
func groupsString(groups [][]string) string {
	var parts []string
	for _, g := range groups {
		parts = append(parts, "{"+strings.Join(g, ", ")+"}")
	}
	return strings.Join(parts, " | ")
}
