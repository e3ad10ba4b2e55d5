package gen

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/nslab/nslab/check"
	"github.com/nslab/nslab/topology"
)

// counts are the sizes of a lab that each kind's formula predicts.
type counts struct{ nodes, bridges, links int }

func (c counts) String() string {
	return fmt.Sprintf("%d nodes, %d bridges, %d links", c.nodes, c.bridges, c.links)
}

// formula returns the sizes a kind must generate.
func formula(k Kind) counts {
	switch k := k.(type) {
	case Star:
		b := (k.Nodes + HostsPerBridge - 1) / HostsPerBridge
		return counts{k.Nodes, b, k.Nodes + b - 1}
	case Line:
		return counts{2 * k.Routers, k.Routers, 3*k.Routers - 1}
	case Tree:
		hosts, bridges := 1, 0
		for range k.Depth {
			bridges += hosts
			hosts *= k.Fanout
		}
		return counts{hosts, bridges, hosts + bridges - 1}
	case LeafSpine:
		s, l, h := k.Spines, k.Leaves, k.HostsPerLeaf
		return counts{s + l + l*h, l, l*h + l + s*l}
	case FatTree:
		n := k.K
		hosts, cables := n*n*n/4, n*(n/2)*(n/2)
		return counts{n*n/4 + n*n + hosts, n * n / 2, hosts + n*n/2 + 2*cables}
	}
	panic(fmt.Sprintf("no formula for %T", k))
}

func parse(t testing.TB, name string, data []byte) *topology.Lab {
	t.Helper()
	lab, err := topology.Parse(name+".yaml", data)
	if err != nil {
		t.Fatalf("generated file does not parse: %v", err)
	}
	return lab
}

func generate(t testing.TB, k Kind, o Options) []byte {
	t.Helper()
	out, err := Generate(k, o)
	if err != nil {
		t.Fatalf("Generate(%s %s): %v", k.Kind(), k.size(), err)
	}
	return out
}

// TestKinds generates every kind at small sizes and checks that the file
// parses, has the sizes of its formula, and that the routing model says
// every node (and the host, when the lab gives it addresses) reaches
// every address.
func TestKinds(t *testing.T) {
	for _, c := range []struct {
		k Kind
		o Options
	}{
		{Star{Nodes: 1}, Options{}},
		{Star{Nodes: 6}, Options{}},
		{Star{Nodes: 6, Host: true}, Options{}},
		{Star{Nodes: 5, Subnet: netip.MustParsePrefix("172.16.8.0/29")}, Options{IPv4Only: true}},
		{Line{Routers: 1}, Options{}},
		{Line{Routers: 5}, Options{}},
		{Line{Routers: 4}, Options{IPv4Only: true}},
		{Tree{Depth: 1, Fanout: 1}, Options{}},
		{Tree{Depth: 2, Fanout: 3}, Options{}},
		{Tree{Depth: 3, Fanout: 2, Host: true}, Options{}},
		{LeafSpine{Spines: 1, Leaves: 1, HostsPerLeaf: 1}, Options{}},
		{LeafSpine{Spines: 2, Leaves: 3, HostsPerLeaf: 2}, Options{}},
		{LeafSpine{Spines: 3, Leaves: 5, HostsPerLeaf: 2}, Options{}},
		{LeafSpine{Spines: 4, Leaves: 3, HostsPerLeaf: 1}, Options{IPv4Only: true}},
		{FatTree{K: 2}, Options{}},
		{FatTree{K: 4}, Options{}},
		{FatTree{K: 6}, Options{IPv4Only: true}},
	} {
		name := c.k.Kind() + "-" + c.k.size()
		if c.o.IPv4Only {
			name += "-v4"
		}
		if s, ok := c.k.(Star); ok && s.Host {
			name += "-host"
		}
		if s, ok := c.k.(Tree); ok && s.Host {
			name += "-host"
		}
		t.Run(name, func(t *testing.T) {
			lab := parse(t, name, generate(t, c.k, c.o))
			got := counts{len(lab.Nodes), len(lab.Bridges), len(lab.Links)}
			if want := formula(c.k); got != want {
				t.Errorf("got %v, want %v", got, want)
			}
			checkFamilies(t, lab, !c.o.IPv4Only)
			checkReach(t, lab)
		})
	}
}

// checkFamilies checks that every address is of a family the lab asked for.
func checkFamilies(t *testing.T, lab *topology.Lab, v6 bool) {
	t.Helper()
	n6 := 0
	for _, n := range lab.Nodes {
		for _, i := range n.Interfaces {
			for _, a := range i.Addresses {
				if a.Addr().Is6() {
					n6++
				}
			}
		}
	}
	if (n6 > 0) != v6 {
		t.Errorf("lab has %d IPv6 addresses; IPv6 wanted: %v", n6, v6)
	}
}

// checkReach checks that check.Expect lists a probe from every source to
// every address of the lab.
func checkReach(t *testing.T, lab *topology.Lab) {
	t.Helper()
	type pair struct {
		from string
		to   netip.Addr
	}
	got := map[pair]bool{}
	for _, p := range check.Expect(lab) {
		got[pair{p.From, p.To}] = true
	}
	sources, dests := probeEnds(lab)
	var missing []string
	for _, s := range sources {
		for _, d := range dests {
			if !got[pair{s, d}] {
				missing = append(missing, s+" -> "+d.String())
			}
		}
	}
	if len(missing) > 0 {
		t.Errorf("%d of %d pairs do not reach, such as: %s", len(missing), len(sources)*len(dests),
			strings.Join(missing[:min(len(missing), 8)], ", "))
	}
}

// probeEnds returns the nodes that probe (the host too, if a bridge has
// addresses) and every global unicast address of the lab.
func probeEnds(lab *topology.Lab) ([]string, []netip.Addr) {
	var sources []string
	var dests []netip.Addr
	for _, n := range lab.Nodes {
		sources = append(sources, n.Name)
		for _, i := range n.Interfaces {
			for _, a := range i.Addresses {
				dests = append(dests, a.Addr())
			}
		}
	}
	for _, b := range lab.Bridges {
		for _, a := range b.Addresses {
			dests = append(dests, a.Addr())
		}
		if len(b.Addresses) > 0 && sources[len(sources)-1] != topology.HostNode {
			sources = append(sources, topology.HostNode)
		}
	}
	return sources, dests
}

// TestStarTrunks checks that a star of 2500 hosts spreads over three
// bridges, br1 and br2 joined to br0 by trunks, in one segment.
func TestStarTrunks(t *testing.T) {
	lab := parse(t, "star", generate(t, Star{Nodes: 2500, Host: true}, Options{}))
	var trunks []string
	for _, l := range lab.Links {
		if l.Kind == topology.Trunk {
			trunks = append(trunks, l.String())
		}
	}
	if got := fmt.Sprint(trunks); len(lab.Bridges) != 3 || got != "[br1 -- br0 br2 -- br0]" {
		t.Errorf("got %d bridges, trunks %s; want 3 bridges, trunks br1 and br2 to br0", len(lab.Bridges), got)
	}
	for b, want := range map[string]int{"br0": 1000, "br1": 1000, "br2": 500} {
		if n := len(lab.Ports(lab.Bridge(b))); n != want {
			t.Errorf("bridge %s has %d node ports, want %d", b, n, want)
		}
	}
	segs := 0
	for _, s := range lab.Segments() {
		if s.Bridge != nil {
			segs++
			if s.Name != "br0" || len(s.Members) != 2501 {
				t.Errorf("segment %s has %d members, want br0 with 2501", s.Name, len(s.Members))
			}
		}
	}
	if segs != 1 {
		t.Errorf("%d bridge segments, want 1", segs)
	}
}

// TestLeafSpine10k checks the fabric of 10,104 nodes that the benchmark
// times: it generates and parses, with the sizes of the formula.
func TestLeafSpine10k(t *testing.T) {
	k := LeafSpine{Spines: 4, Leaves: 100, HostsPerLeaf: 100}
	lab := parse(t, "fabric", generate(t, k, Options{}))
	got := counts{len(lab.Nodes), len(lab.Bridges), len(lab.Links)}
	if want := formula(k); got != want || got.nodes != 10104 {
		t.Errorf("got %v, want %v", got, want)
	}
}

// TestErrors checks that bad sizes and subnets are refused with a message
// that says what to do.
func TestErrors(t *testing.T) {
	for _, c := range []struct {
		k    Kind
		o    Options
		want string
	}{
		{Star{}, Options{}, "star: --nodes is 0; it must be at least 1"},
		{Star{Nodes: 300, Subnet: netip.MustParsePrefix("10.0.0.0/24")}, Options{}, "use a bigger subnet, such as 10.0.0.0/23"},
		{Star{Nodes: 300, Subnet6: netip.MustParsePrefix("fd10::/120")}, Options{}, "use a bigger subnet, such as fd10::/119"},
		{Star{Nodes: 3, Subnet: netip.MustParsePrefix("10.0.0.1/24")}, Options{}, "did you mean 10.0.0.0/24?"},
		{Star{Nodes: 3, Subnet: netip.MustParsePrefix("fd10::/64")}, Options{}, "is not an IPv4 subnet"},
		{Star{Nodes: 3, Subnet: netip.MustParsePrefix("127.0.0.0/16")}, Options{}, "overlaps 127.0.0.0/8"},
		{Star{Nodes: MaxStarNodes + 1}, Options{}, "use tree"},
		{Star{Nodes: 3}, Options{Name: "a.b"}, `lab name "a.b" contains "."`},
		{Line{Routers: 64}, Options{}, "it can be at most 63"},
		{Tree{Depth: 2, Fanout: 1024}, Options{}, "at most 1023"},
		{Tree{Depth: 9, Fanout: 9}, Options{}, "more than 100000 nodes"},
		{Tree{Depth: 0, Fanout: 2}, Options{}, "--depth is 0"},
		{LeafSpine{Spines: 2, Leaves: 2}, Options{}, "--hosts-per-leaf is 0"},
		{LeafSpine{Spines: 256, Leaves: 2, HostsPerLeaf: 1}, Options{}, "do not fit in 10.255.0.0/16"},
		{LeafSpine{Spines: 4, Leaves: 5000, HostsPerLeaf: 1}, Options{}, "use fewer leaves and more hosts per leaf"},
		{FatTree{K: 5}, Options{}, "--k is 5; it must be even"},
		{FatTree{K: 80}, Options{}, "more than 100000 nodes"},
	} {
		_, err := Generate(c.k, c.o)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Generate(%s %s): got error %v, want one with %q", c.k.Kind(), c.k.size(), err, c.want)
		}
	}
}

// TestName checks the default name and the quoting of names YAML would
// misread.
func TestName(t *testing.T) {
	for _, c := range []struct {
		o    Options
		want string
	}{
		{Options{}, "leaf-spine-2-3-1"},
		{Options{Name: "fabric"}, "fabric"},
		{Options{Name: "true"}, "true"},
		{Options{Name: "2024"}, "2024"},
	} {
		lab := parse(t, "name", generate(t, LeafSpine{Spines: 2, Leaves: 3, HostsPerLeaf: 1}, c.o))
		if lab.Name != c.want {
			t.Errorf("name %q: lab is named %q, want %q", c.o.Name, lab.Name, c.want)
		}
	}
}
