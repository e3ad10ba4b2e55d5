package main

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/nslab/nslab/internal/labtest"
)

// TestNames: in nslab exec (both paths), every node resolves every other
// node of its lab by name; a node's own /etc/netns hosts file wins; a
// node that joins is known after the next up.
func TestNames(t *testing.T) {
	subnet := labtest.Subnet(t)
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
	dir := labtest.EtcNetns(t, name+".ns1")
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
