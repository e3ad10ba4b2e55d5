package main

import (
	"fmt"
	"strings"

	"github.com/nslab/nslab/lab"
	"github.com/nslab/nslab/plan"
	"github.com/nslab/nslab/topology"
	"github.com/spf13/cobra"
)

func newLink() *cobra.Command {
	link := &cobra.Command{
		Use:   "link",
		Short: "Cut a cable of a running lab, or join it again",
		Long: `Cut a cable as when it is pulled out at its far end, or join it again.
The interface named sees its carrier drop and keeps its addresses and
routes; the far end (the bridge port, the host end or the other node's
interface) goes down. The lab's file is not changed: a cut cable stays cut
until it is joined again or made anew.

IFACE is NODE:IF, with NODE the bare node name when it is unique among
running labs, else LAB.NODE; LAB.host:IF names a host interface.`,
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
				l, node, iface, err := parseIface(a[0])
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
	return link
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
			var groups [][]string
			for _, g := range a {
				var nodes []string
				for _, ref := range strings.Split(g, ",") {
					if ref == "" {
						return &usageError{fmt.Errorf("group %q: write nodes separated by commas (ns1,ns2)", g)}
					}
					n, err := lab.FindNode(qualify(labName, ref))
					if err != nil {
						return err
					}
					if labName != "" && n.Lab != labName {
						return fmt.Errorf("node %s is in lab %s, not %s: a partition splits one lab", ref, n.Lab, labName)
					}
					labName = n.Lab
					nodes = append(nodes, n.Name)
				}
				groups = append(groups, nodes)
			}
			if err := lab.Partition(cmd.Context(), labName, groups, lab.Options{Logf: logf}); err != nil {
				return err
			}
			var parts []string
			for _, g := range groups {
				parts = append(parts, "{"+strings.Join(g, ", ")+"}")
			}
			fmt.Fprintf(cmd.OutOrStdout(), "lab %s partitioned: %s\n", labName, strings.Join(parts, " | "))
			return nil
		},
	}
	cmd.Flags().StringVar(&labName, "lab", "", "the lab, when node names are not unique among running labs")
	return cmd
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
		Short:       "Take a partition of a running lab away",
		Long: `Take the partition of a running lab away: every node reaches the others
again as the file says. A lab with no partition is left as it is, and heal
says so (exit status 0).`,
		Args:              args(cobra.ExactArgs(1)),
		ValidArgsFunction: completeLabs,
		RunE: func(cmd *cobra.Command, a []string) error {
			if _, err := lab.Topology(a[0]); err != nil {
				return err
			}
			healed, err := lab.Heal(cmd.Context(), a[0], lab.Options{Logf: logf})
			if err != nil {
				return err
			}
			if !healed {
				fmt.Fprintf(cmd.OutOrStdout(), "lab %s has no partition: nothing to heal\n", a[0])
				return nil
			}
			fmt.Fprintf(cmd.OutOrStdout(), "lab %s healed\n", a[0])
			return nil
		},
	}
}
