package main

import (
	"context"
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
			Short:             short,
			Example:           "  sudo nslab link " + strings.Fields(use)[0] + " ns1:eth0",
			Args:              args(cobra.ExactArgs(1)),
			ValidArgsFunction: completeNodes,
			RunE: func(cmd *cobra.Command, a []string) error {
				l, node, iface, err := parseIface(a[0])
				if err != nil {
					return err
				}
				if err := lab.Cut(context.Background(), l, node, iface, up, lab.Options{Logf: logf}); err != nil {
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
