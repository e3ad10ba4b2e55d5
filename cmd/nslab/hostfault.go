package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/nslab/nslab/fleet"
	"github.com/nslab/nslab/lab"
	"github.com/nslab/nslab/plan"
	"github.com/nslab/nslab/topology"
	"github.com/spf13/cobra"
)

// newHostFault is what the fault commands on a lab across machines run
// on each host concerned, over ssh: the changes of this host's share
// (fleet.FaultOp, a JSON list) on standard input, a fleet.FaultResult
// on standard output.
func newHostFault() *cobra.Command {
	var quiet bool
	cmd := &cobra.Command{
		Use:         "host-fault LAB",
		Hidden:      true,
		Annotations: privileged(),
		Short:       "Cut, shape, partition or heal this host's share of a lab across machines (run over ssh)",
		Args:        args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, a []string) error {
			data, err := io.ReadAll(io.LimitReader(os.Stdin, topology.MaxFileSize))
			if err != nil {
				return err
			}
			var ops []fleet.FaultOp
			if err := json.Unmarshal(data, &ops); err != nil {
				return fmt.Errorf("reading the faults sent on standard input: %w", err)
			}
			res, err := fleet.ApplyFaults(cmd.Context(), a[0], ops, lab.Options{Logf: quietLogf(quiet)})
			if jerr := writeJSON(cmd.OutOrStdout(), res); jerr != nil && err == nil {
				err = jerr
			}
			return err
		},
	}
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "print nothing but errors")
	return cmd
}

// readShippedFaults reads the whole lab's faults in force that nslab
// check on the machine that brought a lab across machines up sends on
// standard input.
func readShippedFaults() (*plan.Faults, error) {
	data, err := io.ReadAll(io.LimitReader(os.Stdin, topology.MaxFileSize))
	if err != nil {
		return nil, err
	}
	f := &plan.Faults{}
	if err := json.Unmarshal(data, f); err != nil {
		return nil, fmt.Errorf("reading the faults sent on standard input: %w", err)
	}
	return f, nil
}

// acrossNode resolves a node reference (NODE, LAB.NODE, LAB.host) to a
// node of a lab across machines brought up here, whose faults are made
// from here on its hosts: ok false when it is not one (a lab of this
// machine alone, or no lab).
func acrossNode(ref string) (labName, node string, ok bool, err error) {
	if l, n, cut := plan.SplitNetnsName(ref); cut && n == topology.HostNode {
		return l, n, fleet.Exists(l), nil
	}
	if n, err := lab.FindNode(ref); err == nil {
		// A node of this machine's share of a lab across machines is one
		// of the whole lab's, if that lab was brought up from here.
		return n.Lab, n.Name, fleet.Exists(n.Lab), nil
	}
	l, n, _, ok, err := fleet.FindNode(ref)
	return l, n, ok, err
}

// acrossIface resolves NODE:IF, LAB.NODE:IF or LAB.host:IF to an
// interface of a lab across machines brought up here (see acrossNode).
func acrossIface(ref string) (labName, node, iface string, ok bool, err error) {
	nodeRef, iface, cut := strings.Cut(ref, ":")
	if !cut || iface == "" || nodeRef == "" {
		return "", "", "", false, nil // parseIface says what is wrong
	}
	l, n, ok, err := acrossNode(nodeRef)
	return l, n, iface, ok, err
}

// acrossGroups resolves groups of nodes (comma-separated) of one lab
// across machines brought up here; ok false when the first node is not
// of one (see acrossNode).
func acrossGroups(labName *string, groups []string, oneLab string) (out [][]string, ok bool, err error) {
	for k, g := range groups {
		var nodes []string
		for _, ref := range strings.Split(g, ",") {
			if ref == "" {
				return nil, false, &usageError{fmt.Errorf("group %q: write nodes separated by commas (ns1,ns2)", g)}
			}
			l, n, across, err := acrossNode(qualify(*labName, ref))
			if err != nil {
				return nil, false, err
			}
			if !across {
				if k == 0 && len(nodes) == 0 {
					return nil, false, nil
				}
				return nil, false, fmt.Errorf("node %s is not in lab %s across machines: %s", ref, *labName, oneLab)
			}
			if *labName != "" && l != *labName {
				return nil, false, fmt.Errorf("node %s is in lab %s, not %s: %s", ref, l, *labName, oneLab)
			}
			*labName = l
			nodes = append(nodes, n)
		}
		out = append(out, nodes)
	}
	return out, true, nil
}
