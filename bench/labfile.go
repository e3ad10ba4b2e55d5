package main

import (
	"fmt"
	"net/netip"
	"os"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
)

// labFile is what the bench needs to know of a topology file: its nodes
// and their addresses (to pick probe pairs), and how big it is.
type labFile struct {
	Name    string
	Nodes   map[string][]netip.Addr // node → addresses, in file order
	Ifaces  map[string]int          // node → number of interfaces
	Bridges int
}

// readLabFile reads the parts of a topology file the bench uses; nslab
// itself validates the file.
func readLabFile(path string) (*labFile, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var doc struct {
		Name    string               `yaml:"name"`
		Bridges map[string]yaml.Node `yaml:"bridges"`
		Nodes   map[string]struct {
			Interfaces map[string]struct {
				Addresses yaml.Node `yaml:"addresses"`
			} `yaml:"interfaces"`
		} `yaml:"nodes"`
	}
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(doc.Nodes) == 0 {
		return nil, fmt.Errorf("%s: no nodes", path)
	}
	lf := &labFile{Name: doc.Name, Nodes: map[string][]netip.Addr{}, Ifaces: map[string]int{}, Bridges: len(doc.Bridges)}
	for name, n := range doc.Nodes {
		lf.Ifaces[name] = len(n.Interfaces)
		ifnames := make([]string, 0, len(n.Interfaces))
		for ifn := range n.Interfaces {
			ifnames = append(ifnames, ifn)
		}
		sort.Strings(ifnames)
		var list []netip.Addr
		for _, ifn := range ifnames {
			a := n.Interfaces[ifn].Addresses
			vals := []*yaml.Node{&a}
			if a.Kind == yaml.SequenceNode {
				vals = a.Content
			}
			for _, v := range vals {
				if p, err := netip.ParsePrefix(strings.TrimSpace(v.Value)); err == nil {
					list = append(list, p.Addr())
				}
			}
		}
		lf.Nodes[name] = list
	}
	return lf, nil
}

// hosts are the nodes with one interface (the end hosts of a generated
// topology); when there are none, all nodes.
func (lf *labFile) hosts() []string {
	var hosts, all []string
	for name := range lf.Nodes {
		all = append(all, name)
		if lf.Ifaces[name] == 1 && len(lf.Nodes[name]) > 0 {
			hosts = append(hosts, name)
		}
	}
	if len(hosts) < 2 {
		hosts = all
	}
	sort.Strings(hosts)
	return hosts
}

// describe says what the file holds, as "10104 nodes (10000 hosts), 101 bridges".
func (lf *labFile) describe() string {
	h := len(lf.hosts())
	s := fmt.Sprintf("%d nodes", len(lf.Nodes))
	if h != len(lf.Nodes) {
		s += fmt.Sprintf(" (%d hosts)", h)
	}
	if lf.Bridges == 1 {
		return s + ", 1 bridge"
	}
	return s + fmt.Sprintf(", %d bridges", lf.Bridges)
}
