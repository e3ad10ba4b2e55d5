package main

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"

	"github.com/nslab/nslab/nslabtest"
)

// TestNames: in nslab exec (both paths), every node resolves every other
// node of its lab by name; a node's own /etc/netns hosts file wins; a
// node that joins is known after the next up.
func TestNames(t *testing.T) {
	subnet := nslabtest.Subnet(t)
	file, name := seedFile(t, subnet)
	if r := nslab(t, "", "up", "-q", file); r.code != 0 {
		t.Fatalf("up: %s", r.stderr)
	}
	resolve := func(node, host string, env ...string) string {
		cmd := exec.Command(bin, "exec", name+"."+node, "--", "getent", "ahostsv4", host)
		cmd.Env = append(os.Environ(), env...)
		out, _ := cmd.CombinedOutput()
		return string(out)
	}
	for _, env := range [][]string{nil, {"NSLAB_NO_FAST_EXEC=1"}} {
		for _, tc := range []struct{ from, host, want string }{
			{"ns1", "ns2", subnet + ".3"},
			{"ns2", "ns1", subnet + ".2"},
			{"ns1", "ns2." + name, subnet + ".3"},
			{"ns2", "eth0.ns1", subnet + ".2"},
			{"ns1", "localhost", "127.0.0.1"},
		} {
			if got := resolve(tc.from, tc.host, env...); !strings.Contains(got, tc.want) {
				t.Errorf("%v: in %s, %s resolves to %q, want %s", env, tc.from, tc.host, got, tc.want)
			}
		}
	}
	// The host's own /etc/hosts is untouched.
	if b, _ := os.ReadFile("/etc/hosts"); strings.Contains(string(b), "ns2."+name) {
		t.Errorf("the host's /etc/hosts holds the lab's names")
	}

	// A node of the file's own in /etc/netns wins, as with ip netns exec.
	dir := nslabtest.EtcNetns(t, name+".ns1")
	os.WriteFile(dir+"/hosts", []byte("10.9.9.9 ns2\n"), 0o644)
	if got := resolve("ns1", "ns2"); !strings.Contains(got, "10.9.9.9") {
		t.Errorf("with its own hosts file, ns1 resolves ns2 to %q", got)
	}
	os.Remove(dir + "/hosts")

	// ns3 joins the running lab.
	b, _ := os.ReadFile(file)
	more := string(b) + "  ns3:\n    interfaces:\n      eth0: {link: br-ns, addresses: [" + subnet + ".4/24]}\n"
	if err := os.WriteFile(file, []byte(more), 0o644); err != nil {
		t.Fatal(err)
	}
	if r := nslab(t, "", "up", "-q", file); r.code != 0 {
		t.Fatalf("up with ns3: %s", r.stderr)
	}
	if got := resolve("ns1", "ns3"); !strings.Contains(got, subnet+".4") {
		t.Errorf("after ns3 joined, ns1 resolves it to %q", got)
	}
}

// TestLookupsFailFast: in nslab exec (both paths), a name that the lab
// does not know (the host's hostname among them) fails at once and the
// node's own hostname (hostname -f) resolves at once, in a lab without nat whose node has a default route.
// A guard table in the node counts and drops every packet to port 53
// that would leave the node, so the machine's resolver never sees one.
func TestLookupsFailFast(t *testing.T) {
	subnet := nslabtest.Subnet(t)
	file, name := seedFile(t, subnet)
	if r := nslab(t, "", "up", "-q", file); r.code != 0 {
		t.Fatalf("up: %s", r.stderr)
	}
	node := name + ".ns1"
	nslabtest.IP(t, "-n", node, "route", "add", "default", "via", subnet+".1")
	left := dnsGuard(t, node)
	host, _ := os.Hostname()
	for _, env := range [][]string{nil, {"NSLAB_NO_FAST_EXEC=1"}} {
		for _, tc := range []struct {
			cmd  string
			want int // exit status
		}{
			{"getent hosts nosuchname", 2},
			{"getent hosts nosuchname.example.com", 2},
			{"getent hosts 192.0.2.7", 2},
			{"getent hosts " + host, 2}, // the host's name is one outside the lab
			{"getent hosts ns1", 0},     // its own hostname
			{"hostname -f", 0},
		} {
			cmd := exec.Command(bin, "exec", node, "--", "sh", "-c",
				`s=$(date +%s%N); `+tc.cmd+` >/dev/null; r=$?; e=$(date +%s%N); echo $r $(( (e - s) / 1000000 ))`)
			cmd.Env = append(os.Environ(), env...)
			out, err := cmd.Output()
			var code, ms int
			if _, serr := fmt.Sscan(string(out), &code, &ms); err != nil || serr != nil {
				t.Fatalf("%v %s: %v %q", env, tc.cmd, err, out)
			}
			// A lookup that asks a resolver waits for its timeout, 1 s
			// at the least (resolv.conf's timeout: has whole seconds); one
			// that fails at once takes milliseconds, or a few hundred on a
			// machine loaded by other test binaries.
			if code != tc.want || ms >= 900 {
				t.Errorf("%v: in %s, %s: status %d in %d ms; want %d in under 900 ms (a resolver's timeout is 1 s or more)", env, node, tc.cmd, code, ms, tc.want)
			}
			t.Logf("%v %s: status %d in %d ms", env, tc.cmd, code, ms)
		}
	}
	if n := left(); n != 0 {
		t.Errorf("%d packets to port 53 tried to leave %s", n, node)
	}
}

// dnsGuard adds to namespace ns a table that counts and drops every
// packet to port 53 (UDP or TCP) that would leave by another interface
// than lo; the table goes with the namespace. It returns the count.
func dnsGuard(t *testing.T, ns string) func() uint64 {
	t.Helper()
	f, err := os.Open("/run/netns/" + ns)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	c, err := nftables.New(nftables.WithNetNSFd(int(f.Fd())))
	if err != nil {
		t.Fatal(err)
	}
	table := c.AddTable(&nftables.Table{Name: "dnsguard", Family: nftables.TableFamilyINet})
	policy := nftables.ChainPolicyAccept
	chain := c.AddChain(&nftables.Chain{Name: "out", Table: table, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookOutput, Priority: nftables.ChainPriorityFilter, Policy: &policy})
	lo := make([]byte, 16)
	copy(lo, "lo")
	for _, proto := range []byte{unix.IPPROTO_UDP, unix.IPPROTO_TCP} {
		c.AddRule(&nftables.Rule{Table: table, Chain: chain, Exprs: []expr.Any{
			&expr.Meta{Key: expr.MetaKeyOIFNAME, Register: 1},
			&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: lo},
			&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{proto}},
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{0, 53}},
			&expr.Counter{},
			&expr.Verdict{Kind: expr.VerdictDrop},
		}})
	}
	if err := c.Flush(); err != nil {
		t.Fatalf("adding the DNS guard in %s: %v", ns, err)
	}
	return func() uint64 {
		rules, err := c.GetRules(table, chain)
		if err != nil || len(rules) != 2 {
			t.Fatalf("reading the DNS guard of %s: %d rules, %v", ns, len(rules), err)
		}
		var n uint64
		for _, r := range rules {
			for _, e := range r.Exprs {
				if ctr, ok := e.(*expr.Counter); ok {
					n += ctr.Packets
				}
			}
		}
		return n
	}
}
