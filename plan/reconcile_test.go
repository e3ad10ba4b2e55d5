package plan

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/nslab/nslab/kernel"
	"github.com/nslab/nslab/topology"
)

// running returns the state of a machine on which lab was built: its
// namespaces, root links and host-side addresses.
func running(t *testing.T, lab *topology.Lab) *kernel.State {
	t.Helper()
	p, err := Up(lab, holderState(lab.Name))
	if err != nil {
		t.Fatal(err)
	}
	st := checkKernelNames(t, p)
	st.UTSHolder = holderOf(lab.Name)
	for _, s := range p.Stages {
		for _, op := range s.Ops {
			if o, ok := op.(*kernel.LinkSetup); ok && o.NS == "" {
				for _, a := range o.Addresses {
					st.Addrs = append(st.Addrs, kernel.HostAddr{Prefix: a, Link: o.Name})
				}
			}
		}
	}
	return st
}

func parse(t *testing.T, src string) *topology.Lab {
	t.Helper()
	l, err := topology.Parse("test.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// TestReconcileNothing: a running lab and its own file differ in nothing.
func TestReconcileNothing(t *testing.T) {
	files, _ := filepath.Glob("../examples/*.yaml")
	good, _ := filepath.Glob("../topology/testdata/good/*.yaml")
	for _, f := range append(files, good...) {
		l, err := topology.Load(f)
		if err != nil {
			continue
		}
		p, err := Reconcile(l, l, running(t, l))
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		if !p.Empty() {
			t.Errorf("%s: reconciling a lab with its own file plans:\n%s", f, script(t, p))
		}
	}
}

const seed = `name: seed
bridges:
  br-ns: {addresses: [10.0.0.1/24]}
nodes:
  ns1:
    interfaces:
      eth0: {link: br-ns, addresses: [10.0.0.2/24]}
  ns2:
    routes: [{to: 10.9.0.0/16, via: 10.0.0.1}]
    interfaces:
      eth0: {link: br-ns, addresses: [10.0.0.3/24]}
`

func TestReconcileChanges(t *testing.T) {
	for _, tc := range []struct {
		name, from, to string
		want           []string // the plan's lines, comments left out
	}{{
		name: "hostname changed, in place",
		from: seed,
		to:   strings.Replace(seed, "  ns2:\n", "  ns2:\n    hostname: db\n", 1),
		want: []string{"nsenter --mount=/run/nslab/seed/uts nsenter --uts=/ns2 hostname db"},
	}, {
		name: "node added",
		from: seed,
		to:   seed + "  ns3:\n    interfaces:\n      eth0: {link: br-ns, addresses: [10.0.0.4/24]}\n",
		want: []string{
			"ip netns add seed.ns3",
			`ip -n seed.ns3 link set lo up alias "nslab:seed:node:ns3"`,
			"ip netns exec seed.ns3 sysctl -qw net.ipv6.conf.all.accept_dad=0",
			"ip netns exec seed.ns3 sysctl -qw net.ipv6.conf.default.accept_dad=0",
			"ip netns exec seed.ns3 sysctl -qw net.ipv6.conf.default.router_solicitations=0",
			"nsenter --mount=/run/nslab/seed/uts unshare --uts=/ns3 hostname ns3",
			"ip link add np-", // the port of ns3
			"ip link set np-",
			"ip link property add dev np-",
			"ip link set np-",
			"sysctl -qw net.ipv6.conf.np-",
			"ip -n seed.ns3 link set eth0 up",
			"ip -n seed.ns3 addr add 10.0.0.4/24 dev eth0",
		},
	}, {
		name: "address changed",
		from: seed,
		to:   strings.Replace(seed, "10.0.0.3/24", "10.0.0.5/24", 1),
		want: []string{
			"ip -n seed.ns2 addr del 10.0.0.3/24 dev eth0",
			"ip -n seed.ns2 link set eth0 up",
			"ip -n seed.ns2 addr add 10.0.0.5/24 dev eth0",
		},
	}, {
		name: "bridge address changed",
		from: seed,
		to:   strings.Replace(seed, "10.0.0.1/24]", "10.0.0.1/24, fd00:9::1/64]", 1),
		want: []string{"ip link set nb-", "ip addr add fd00:9::1/64 dev nb-", "sysctl -qw net.ipv6.conf.nb-"},
	}, {
		name: "node removed",
		from: seed,
		to:   seed[:strings.Index(seed, "  ns2:")],
		want: []string{"ip link delete np-", "ip netns delete seed.ns2", "nsenter --mount=/run/nslab/seed/uts umount /ns2"},
	}, {
		name: "route changed",
		from: seed,
		to:   strings.Replace(seed, "10.9.0.0/16", "10.8.0.0/16", 1),
		want: []string{
			"ip -n seed.ns2 route del 10.9.0.0/16 via 10.0.0.1",
			"ip -n seed.ns2 route add 10.8.0.0/16 via 10.0.0.1",
		},
	}, {
		name: "shape added: in place, at both ends",
		from: seed,
		to:   strings.Replace(seed, "{link: br-ns, addresses: [10.0.0.3/24]}", "{link: br-ns, addresses: [10.0.0.3/24], shape: {rate: 10mbit}}", 1),
		want: []string{
			"tc qdisc add dev np-", // the port: what reaches ns2
			"tc -n seed.ns2 qdisc add dev eth0 root handle 1: tbf rate 10mbit burst 16384 limit 78884",
		},
	}, {
		name: "shape changed",
		from: strings.Replace(seed, "{link: br-ns, addresses: [10.0.0.3/24]}", "{link: br-ns, addresses: [10.0.0.3/24], shape: {rate: 10mbit}}", 1),
		to:   strings.Replace(seed, "{link: br-ns, addresses: [10.0.0.3/24]}", "{link: br-ns, addresses: [10.0.0.3/24], shape: {rate: 5mbit, delay: 10ms}}", 1),
		want: []string{
			"tc qdisc del dev np-", "tc qdisc add dev np-",
			"tc -n seed.ns2 qdisc del dev eth0 root",
			"tc -n seed.ns2 qdisc add dev eth0 root handle 1: netem limit 1000 delay 10ms rate 5mbit",
		},
	}, {
		name: "shape removed",
		from: strings.Replace(seed, "{link: br-ns, addresses: [10.0.0.3/24]}", "{link: br-ns, addresses: [10.0.0.3/24], shape: {loss: 1%}}", 1),
		to:   seed,
		want: []string{"tc qdisc del dev np-", "tc -n seed.ns2 qdisc del dev eth0 root"},
	}, {
		name: "MTU changed: in place, at both ends",
		from: seed,
		to:   strings.Replace(seed, "{link: br-ns, addresses: [10.0.0.3/24]}", "{link: br-ns, mtu: 1400, addresses: [10.0.0.3/24]}", 1),
		want: []string{"ip link set np-", "ip -n seed.ns2 link set eth0 mtu 1400"},
	}, {
		name: "moved to another bridge: the cable is made anew",
		from: seed,
		to: strings.NewReplacer("bridges:\n", "bridges:\n  br2: {}\n", "via: 10.0.0.1", "via: 10.0.2.1",
			"{link: br-ns, addresses: [10.0.0.3/24]}", "{link: br2, addresses: [10.0.2.3/24]}").Replace(seed),
		want: []string{
			"ip -n seed.ns2 route del 10.9.0.0/16 via 10.0.0.1",
			"ip link delete np-",
			"ip link add nb-", "ip link set nb-", "ip link property add dev nb-",
			"ip link add np-", "ip link set np-", "ip link property add dev np-", "ip link set np-",
			"sysctl -qw net.ipv6.conf.np-",
			"ip -n seed.ns2 link set eth0 up",
			"ip -n seed.ns2 addr add 10.0.2.3/24 dev eth0",
			"ip link set nb-",
			"ip -n seed.ns2 route add 10.9.0.0/16 via 10.0.2.1",
			"sysctl -qw net.ipv6.conf.nb-", "sysctl -qw net.ipv6.conf.nb-", // accept_ra, bridges of the lab

		},
	}, {
		name: "router: forwarding on",
		from: seed,
		to:   strings.Replace(seed, "  ns1:\n", "  ns1:\n    router: true\n", 1),
		want: []string{
			"ip netns exec seed.ns1 sysctl -qw net.ipv4.ip_forward=1",
			"ip netns exec seed.ns1 sysctl -qw net.ipv6.conf.all.forwarding=1",
		},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			from, to := parse(t, tc.from), parse(t, tc.to)
			p, err := Reconcile(from, to, running(t, from))
			if err != nil {
				t.Fatal(err)
			}
			// The lab's nftables table, rewritten when the lab's
			// host-side links or addresses change, is left out.
			var got []string
			inNft := false
			for _, l := range strings.Split(script(t, p), "\n") {
				switch {
				case strings.HasPrefix(l, "nft -f"):
					inNft = true
				case inNft:
					inNft = l != "EOF"
				case l != "" && !strings.HasPrefix(l, "#"):
					got = append(got, l)
				}
			}
			if len(got) != len(tc.want) {
				t.Fatalf("plan (-want +got):\n%s", cmp.Diff(tc.want, got))
			}
			for i := range got {
				if !strings.HasPrefix(got[i], tc.want[i]) {
					t.Errorf("line %d: %q, want it to start with %q\nplan:\n%s", i, got[i], tc.want[i], strings.Join(got, "\n"))
				}
			}
		})
	}
}

// TestReconcileMissing: what the kernel lacks is made again, even though
// the file did not change.
func TestReconcileMissing(t *testing.T) {
	l := parse(t, seed)
	st := running(t, l)
	delete(st.Namespaces, "seed.ns1")
	for name, link := range st.Links {
		if strings.Contains(link.Alias, ":port:ns1:") {
			delete(st.Links, name)
			for _, n := range append(link.AltNames, name) {
				delete(st.Names, n)
			}
		}
	}
	p, err := Reconcile(l, l, st)
	if err != nil {
		t.Fatal(err)
	}
	s := script(t, p)
	for _, want := range []string{"ip netns add seed.ns1", "ip -n seed.ns1 addr add 10.0.0.2/24 dev eth0"} {
		if !strings.Contains(s, want) {
			t.Errorf("plan lacks %q:\n%s", want, s)
		}
	}
	if strings.Contains(s, "seed.ns2") {
		t.Errorf("plan touches ns2, which is whole:\n%s", s)
	}
}

// TestReconcileForeign: a foreign object in the way stops the change
// before anything happens.
func TestReconcileForeign(t *testing.T) {
	from := parse(t, seed)
	to := parse(t, seed+"  ns3:\n    interfaces:\n      eth0: {link: br-ns}\n")
	st := running(t, from)
	st.Namespaces["seed.ns3"] = ""
	if _, err := Reconcile(from, to, st); err == nil || !strings.Contains(err.Error(), "nslab did not make") {
		t.Errorf("Reconcile over a foreign namespace: %v", err)
	}
}

// TestReconcileUninspected: namespaces of the saved topology are listed,
// not inspected (their mark reads Unknown); a node remade because one of
// its sysctls left the file is still the lab's own, not a clash.
func TestReconcileUninspected(t *testing.T) {
	from := parse(t, strings.Replace(seed, "  ns1:\n", "  ns1:\n    sysctls: {net.ipv4.conf.all.rp_filter: 0}\n", 1))
	to := parse(t, seed)
	st := running(t, from)
	for ns := range st.Namespaces {
		st.Namespaces[ns] = kernel.Unknown
	}
	p, err := Reconcile(from, to, st)
	if err != nil {
		t.Fatal(err)
	}
	s := script(t, p)
	for _, want := range []string{"ip netns delete seed.ns1", "ip netns add seed.ns1"} {
		if !strings.Contains(s, want) {
			t.Errorf("plan lacks %q:\n%s", want, s)
		}
	}
	if strings.Contains(s, "seed.ns2") {
		t.Errorf("plan touches ns2:\n%s", s)
	}
}
