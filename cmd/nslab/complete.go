package main

import (
	"slices"
	"strings"

	"github.com/nslab/nslab/internal/natsort"
	"github.com/nslab/nslab/lab"
	"github.com/nslab/nslab/plan"
	"github.com/nslab/nslab/topology"
	"github.com/spf13/cobra"
)

// Shell completion: what cobra's __complete command offers for the
// arguments of each command, read from the running labs' saved files (no
// privileges needed to read them, none asked for). Every list is in
// natural order and keeps only what starts with the word being completed.

// matching keeps the words that start with prefix, in natural order.
func matching(words []string, prefix string) []string {
	var out []string
	for _, w := range words {
		if strings.HasPrefix(w, prefix) && !slices.Contains(out, w) {
			out = append(out, w)
		}
	}
	slices.SortFunc(out, natsort.Compare)
	return out
}

// runningLabs returns the running labs with their topologies.
func runningLabs() map[string]*topology.Lab {
	out := map[string]*topology.Lab{}
	names, _ := lab.Names()
	for _, l := range names {
		if t, err := lab.Topology(l); err == nil {
			out[l] = t
		}
	}
	return out
}

// completeLabs offers the running labs' names.
func completeLabs(_ *cobra.Command, _ []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	names, _ := lab.Names()
	return matching(names, toComplete), cobra.ShellCompDirectiveNoFileComp
}

// completeDown offers the running labs' names, and files.
func completeDown(_ *cobra.Command, a []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	if len(a) > 0 {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	names, _ := lab.Names()
	return matching(names, toComplete), cobra.ShellCompDirectiveDefault
}

// completeNodes offers the nodes of the running labs as LAB.NODE, then
// the shell's own completion for the command to run.
func completeNodes(_ *cobra.Command, a []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	if len(a) > 0 {
		return nil, cobra.ShellCompDirectiveDefault
	}
	var out []string
	for l, t := range runningLabs() {
		for _, n := range t.Nodes {
			out = append(out, plan.NetnsName(l, n.Name))
		}
	}
	return matching(out, toComplete), cobra.ShellCompDirectiveNoFileComp
}

// completeIfaces offers the interfaces of the running labs' nodes as
// LAB.NODE:IF, and their host interfaces as LAB.host:IF.
func completeIfaces(_ *cobra.Command, a []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	if len(a) > 0 {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	var out []string
	for l, t := range runningLabs() {
		for _, n := range t.Nodes {
			for _, i := range n.Interfaces {
				out = append(out, plan.NetnsName(l, n.Name)+":"+i.Name)
			}
		}
		for _, i := range t.Host {
			out = append(out, plan.NetnsName(l, topology.HostNode)+":"+i.Name)
		}
	}
	return matching(out, toComplete), cobra.ShellCompDirectiveNoFileComp
}

// completeGroups offers nodes for a partition group: the word being
// completed may already hold nodes separated by commas, and the next one
// is added after them. Nodes are bare names with --lab, else LAB.NODE;
// nodes already in a group are left out, and so are other labs' nodes
// once a node of one lab is named.
func completeGroups(cmd *cobra.Command, a []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	head := ""
	if i := strings.LastIndex(toComplete, ","); i >= 0 {
		head = toComplete[:i+1]
	}
	var used []string
	for _, g := range append(slices.Clone(a), head) {
		used = append(used, strings.Split(g, ",")...)
	}
	only, _ := cmd.Flags().GetString("lab")
	bare := only != ""
	for _, u := range used {
		if l, _, ok := plan.SplitNetnsName(u); ok && only == "" {
			only = l
		}
	}
	var out []string
	for l, t := range runningLabs() {
		if only != "" && l != only {
			continue
		}
		for _, n := range t.Nodes {
			name := plan.NetnsName(l, n.Name)
			if bare {
				name = n.Name
			}
			if !slices.Contains(used, name) {
				out = append(out, head+name)
			}
		}
	}
	return matching(out, toComplete), cobra.ShellCompDirectiveNoFileComp
}
