package main

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/nslab/nslab/gen"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// genKinds names the kinds of nslab gen, for messages.
const genKinds = "star, line, tree, leaf-spine or fat-tree"

func newGen() *cobra.Command {
	var o gen.Options
	cmd := &cobra.Command{
		Use:   "gen KIND [flags]",
		Short: "Write a topology file of a common shape: " + genKinds,
		Long: `Write a topology file of a common shape to stdout, ready for nslab up:
addresses (IPv4 and IPv6) and static routes are filled in so that every
node reaches every address of the lab, as nslab check will show. The file
opens with a comment on what it is and the command that made it.

Kinds:
  star        hosts on one layer-2 segment (bridges joined by trunks past 1000)
  line        routers in a line, each with a LAN and a host
  tree        Mininet's tree of bridges (mn --topo tree,DEPTH,FANOUT)
  leaf-spine  a routed leaf-spine fabric with hosts under each leaf
  fat-tree    a k-ary fat-tree of routers with hosts under each edge router

Run nslab gen KIND --help for the flags and addressing plan of a kind.`,
		Example: `  nslab gen star --nodes 200 > star.yaml && sudo nslab up star.yaml
  nslab gen leaf-spine --spines 4 --leaves 100 --hosts-per-leaf 100 > fabric.yaml
  nslab gen fat-tree --k 4 --ipv4-only`,
		Args: args(cobra.ArbitraryArgs),
		RunE: func(_ *cobra.Command, a []string) error {
			if len(a) == 0 {
				return &usageError{errors.New("gen needs a KIND: " + genKinds)}
			}
			return &usageError{fmt.Errorf("unknown kind %q for gen: choose %s", a[0], genKinds)}
		},
	}
	cmd.PersistentFlags().StringVar(&o.Name, "name", "", "name the lab NAME (default KIND-SIZE, such as star-200)")
	cmd.PersistentFlags().BoolVar(&o.IPv4Only, "ipv4-only", false, "leave out IPv6 addresses and routes")
	cmd.AddCommand(genStar(&o), genLine(&o), genTree(&o), genLeafSpine(&o), genFatTree(&o))
	return cmd
}

// genCommand makes the command of one kind: kind returns the kind from
// the parsed flags.
func genCommand(o *gen.Options, c *cobra.Command, kind func() (gen.Kind, error)) *cobra.Command {
	c.Args = args(cobra.NoArgs)
	c.RunE = func(cmd *cobra.Command, _ []string) error {
		k, err := kind()
		if err != nil {
			return &usageError{err}
		}
		opts := *o
		opts.Command = commandLine(cmd)
		out, err := gen.Generate(k, opts)
		if err != nil {
			return &usageError{err}
		}
		_, err = cmd.OutOrStdout().Write(out)
		return err
	}
	return c
}

// commandLine returns the command as it was given, in a canonical form:
// its path and the flags that were set, sorted.
func commandLine(cmd *cobra.Command) string {
	parts := []string{cmd.CommandPath()}
	cmd.Flags().Visit(func(f *pflag.Flag) {
		switch {
		case f.Value.Type() == "bool" && f.Value.String() == "true":
			parts = append(parts, "--"+f.Name)
		case f.Value.Type() == "bool":
			parts = append(parts, "--"+f.Name+"=false")
		default:
			parts = append(parts, "--"+f.Name, shellQuote(f.Value.String()))
		}
	})
	return strings.Join(parts, " ")
}

// shellQuote quotes s for a POSIX shell when it needs it.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.,:/=+@") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// segmentFlags are the flags of the one-segment kinds, star and tree.
type segmentFlags struct {
	subnet, subnet6 string
	host            bool
}

func (f *segmentFlags) add(c *cobra.Command) {
	c.Flags().StringVar(&f.subnet, "subnet", gen.DefaultSubnet.String(), "the IPv4 subnet of the segment")
	c.Flags().StringVar(&f.subnet6, "subnet6", gen.DefaultSubnet6.String(), `the IPv6 subnet of the segment; "" for IPv4 only`)
	c.Flags().BoolVar(&f.host, "host", false, "give the host side of the (root) bridge the first address, so the host reaches the lab")
}

// parse returns the subnets; an empty --subnet6 turns IPv6 off in o.
func (f *segmentFlags) parse(c *cobra.Command, o *gen.Options) (netip.Prefix, netip.Prefix, error) {
	sub, err := netip.ParsePrefix(f.subnet)
	if err != nil {
		return sub, sub, fmt.Errorf("--subnet %q is not a subnet such as %s", f.subnet, gen.DefaultSubnet)
	}
	if f.subnet6 == "" {
		o.IPv4Only = true
		return sub, netip.Prefix{}, nil
	}
	if o.IPv4Only && c.Flags().Changed("subnet6") {
		return sub, sub, errors.New("--ipv4-only and --subnet6 contradict each other: drop one")
	}
	sub6, err := netip.ParsePrefix(f.subnet6)
	if err != nil {
		return sub, sub6, fmt.Errorf("--subnet6 %q is not a subnet such as %s", f.subnet6, gen.DefaultSubnet6)
	}
	return sub, sub6, nil
}

func genStar(o *gen.Options) *cobra.Command {
	var k gen.Star
	var seg segmentFlags
	c := &cobra.Command{
		Use:   "star [--nodes N] [flags]",
		Short: "Hosts h1 … hN on one layer-2 segment",
		Long: `Write a star: hosts h1 … hN on one layer-2 segment with one subnet.
Up to 1000 hosts share bridge br0; more spread over br0, br1 …, 1000
each, and br1 … link to br0 by trunks, so the segment stays one (a Linux
bridge holds at most 1024 ports).

Host i has the (i+1)-th address of --subnet and --subnet6 (h1: 10.0.0.2
and fd10::2); the first is kept for the host side of br0, which gets it
only with --host: without it the lab is sealed off from the host.`,
		Example: `  nslab gen star --nodes 200 > star.yaml
  nslab gen star --nodes 5000 --subnet 10.8.0.0/16 --host
  nslab gen star --nodes 50 --subnet6 ''    # IPv4 only`,
	}
	c.Flags().IntVar(&k.Nodes, "nodes", 10, "number of hosts")
	seg.add(c)
	return genCommand(o, c, func() (gen.Kind, error) {
		var err error
		k.Subnet, k.Subnet6, err = seg.parse(c, o)
		k.Host = seg.host
		return k, err
	})
}

func genTree(o *gen.Options) *cobra.Command {
	var k gen.Tree
	var seg segmentFlags
	c := &cobra.Command{
		Use:   "tree [--depth D] [--fanout F] [flags]",
		Short: "Mininet's tree of bridges: FANOUT^DEPTH hosts on one segment",
		Long: `Write Mininet's tree topology (mn --topo tree,DEPTH,FANOUT) made of Linux
bridges: bridge s1 is the root, each bridge above the last level has
FANOUT child bridges joined to it by trunks, and each bridge of the last
level has FANOUT hosts. As in Mininet, bridges and hosts are numbered
depth first. All FANOUT^DEPTH hosts are on one layer-2 segment with one
subnet, addressed as in nslab gen star; --host gives s1 the first address.`,
		Example: `  nslab gen tree --depth 2 --fanout 3 > tree.yaml
  nslab gen tree --depth 3 --fanout 8 --host`,
	}
	c.Flags().IntVar(&k.Depth, "depth", 2, "levels of bridges")
	c.Flags().IntVar(&k.Fanout, "fanout", 2, "children of each bridge, and hosts on each bridge of the last level")
	seg.add(c)
	return genCommand(o, c, func() (gen.Kind, error) {
		var err error
		k.Subnet, k.Subnet6, err = seg.parse(c, o)
		k.Host = seg.host
		return k, err
	})
}

func genLine(o *gen.Options) *cobra.Command {
	var k gen.Line
	c := &cobra.Command{
		Use:   "line [--routers N] [flags]",
		Short: "Routers r1 … rN in a line, each with a LAN and a host",
		Long: `Write a line of routers r1 … rN joined by point-to-point cables; router i
has a LAN, bridge lan<i>, with one host h<i>. Every router has static routes
to the subnets it is not on; hosts route by default via their router.

Addresses: LAN i is 10.0.i.0/24 and fd10:i::/64 (i in hex), the router
.1, the host .2; the cable between r<i> and r<i+1> is the i-th /31 of
10.255.0.0/24 and /127 of fd10::/64. A line has at most 63 routers: a
packet crossing more would run out of TTL.`,
		Example: `  nslab gen line --routers 5 > line.yaml`,
	}
	c.Flags().IntVar(&k.Routers, "routers", 3, "number of routers, 1 to 63")
	return genCommand(o, c, func() (gen.Kind, error) { return k, nil })
}

func genLeafSpine(o *gen.Options) *cobra.Command {
	var k gen.LeafSpine
	c := &cobra.Command{
		Use:   "leaf-spine [--spines S] [--leaves L] [--hosts-per-leaf H] [flags]",
		Short: "A routed leaf-spine fabric with hosts under each leaf",
		Long: `Write a routed leaf-spine fabric: spine routers sp1 … spS, leaf routers
lf1 … lfL, a point-to-point cable from every leaf to every spine, and on
each leaf a bridge lan<l> with hosts h<l>-1 … h<l>-H.

Addresses: leaf l's subnet is the l-th /24 from 10.0.0.0 (a bigger block
when H > 253) and fd10:l::/64 (l in hex), the leaf first, then the hosts.
The cables of spine s are /31s in 10.255.s.0/24 (a bigger block past 128
leaves) and /127s in fd10:0:s::/64, the even address on the spine.

Routes: hosts go via their leaf; leaf l reaches leaf m via spine
((l+m) mod S)+1, the same spine both ways; spines route each leaf subnet
via that leaf; every leaf routes each spine's block of cables via that
spine. 4 spines, 100 leaves and 100 hosts each (10,104 nodes) generate in
a few milliseconds.`,
		Example: `  nslab gen leaf-spine --spines 2 --leaves 4 --hosts-per-leaf 2 > fabric.yaml
  nslab gen leaf-spine --spines 4 --leaves 100 --hosts-per-leaf 100 --name dc`,
	}
	c.Flags().IntVar(&k.Spines, "spines", 2, "number of spine routers")
	c.Flags().IntVar(&k.Leaves, "leaves", 4, "number of leaf routers")
	c.Flags().IntVar(&k.HostsPerLeaf, "hosts-per-leaf", 2, "hosts on each leaf's bridge")
	return genCommand(o, c, func() (gen.Kind, error) { return k, nil })
}

func genFatTree(o *gen.Options) *cobra.Command {
	var k gen.FatTree
	c := &cobra.Command{
		Use:   "fat-tree [--k K] [flags]",
		Short: "A k-ary fat-tree of routers with hosts under each edge router",
		Long: `Write the k-ary fat-tree of Al-Fares et al. made of routers: k pods, each
with k/2 edge routers e<p>-<i> and k/2 aggregation routers a<p>-<j> cabled
in a full mesh; (k/2)^2 core routers c<n>, aggregation router j of every
pod cabled to the j-th group of k/2 cores; k/2 hosts h<p>-<i>-<h> on a
bridge lan<p>-<i> under each edge router: k^3/4 hosts.

Addresses: pod p owns 10.p.0.0/16 and fd10:p::/32. Edge i's LAN is
10.p.i.0/24, its cables up are /31s in 10.p.(128+i).0/24, and those of
aggregation router j to its cores in 10.p.(64+j).0/24; the third group of
an IPv6 subnet is the third IPv4 octet in hex.

Routes: edge routers go up by default via one aggregation router;
aggregation routers route their pod's subnets down and go up by default via
one core; cores route each pod via the aggregation router they reach it by.`,
		Example: `  nslab gen fat-tree --k 4 > fat-tree.yaml`,
	}
	c.Flags().IntVar(&k.K, "k", 4, "the arity k: an even number, 2 or more")
	return genCommand(o, c, func() (gen.Kind, error) { return k, nil })
}
