package plan

import (
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/nslab/nslab/kernel"
	"github.com/nslab/nslab/topology"
)

var update = flag.Bool("update", false, "rewrite the golden plans")

func emptyState() *kernel.State {
	return &kernel.State{Namespaces: map[string]string{}, Links: map[string]*kernel.RootLink{}, Names: map[string]string{}}
}

// holderState is an empty machine on which the lab keeps its hostnames
// where lab keeps them (lab.UTSHolder): as lab plans.
func holderState(name string) *kernel.State {
	st := emptyState()
	st.UTSHolder = holderOf(name)
	return st
}

func holderOf(name string) string { return "/run/nslab/" + name + "/uts" }

func load(t *testing.T, path string) *topology.Lab {
	t.Helper()
	tl, err := topology.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return tl
}

func script(t *testing.T, p *Plan) string {
	t.Helper()
	var b strings.Builder
	if err := p.WriteScript(&b); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// TestGoldenPlans renders the plan of every example against an empty
// machine and compares it with testdata/NAME.plan (go test -update
// rewrites them).
func TestGoldenPlans(t *testing.T) {
	files, _ := filepath.Glob("../examples/*.yaml")
	if len(files) < 3 {
		t.Fatalf("found %d examples", len(files))
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".yaml")
		t.Run(name, func(t *testing.T) {
			l := load(t, f)
			p, err := Up(l, holderState(l.Name))
			if err != nil {
				t.Fatal(err)
			}
			got := script(t, p)
			golden := filepath.Join("testdata", name+".plan")
			if *update {
				os.WriteFile(golden, []byte(got), 0o644)
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update)", err)
			}
			if d := cmp.Diff(string(want), got); d != "" {
				t.Errorf("plan of %s differs from %s (-want +got):\n%s", f, golden, d)
			}
		})
	}
}

func TestUpOrdersStages(t *testing.T) {
	p, err := Up(load(t, "../examples/two-subnets.yaml"), emptyState())
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range p.Stages {
		names = append(names, s.Name)
	}
	want := []string{"namespaces", "bridges", "links", "ports", "addresses", "bridges up", "routes"}
	if d := cmp.Diff(want, names); d != "" {
		t.Errorf("stages (-want +got):\n%s", d)
	}
	if last := p.Stages[len(p.Stages)-1]; !last.AfterLinksUp {
		t.Errorf("stage %s does not wait for the links", last.Name)
	}
	if p.Len() != 1+3+2+4+1+4+2+1+4 { // bridges up: two bridges, and one op of host settings (accept_ra)
		t.Errorf("two-subnets plan has %d ops", p.Len())
	}
}

func TestUpRefusesForeignObjects(t *testing.T) {
	tl := load(t, "../examples/seed.yaml")
	for _, tc := range []struct {
		name string
		edit func(*kernel.State)
		want string
	}{
		{"namespace of ip netns add", func(st *kernel.State) { st.Namespaces["seed.ns2"] = "" },
			"examples/seed.yaml:12:3: node ns2: the name is taken by the namespace seed.ns2 (made by ip netns add or another tool)"},
		{"namespace of another lab", func(st *kernel.State) { st.Namespaces["seed.ns1"] = kernel.Marker("seed", kernel.KindNode, "other") },
			`node ns1: the name is taken by the namespace seed.ns1 marked "nslab:seed:node:other"`},
		{"bridge altname", func(st *kernel.State) {
			st.Links["br0"] = &kernel.RootLink{Name: "br0", Type: "bridge", AltNames: []string{"br-ns.seed"}}
			st.Names["br0"], st.Names["br-ns.seed"] = "br0", "br0"
		}, "bridge br-ns (kernel name " + BridgeName("seed", "br-ns") + ", altname br-ns.seed): the name is taken by bridge link br0"},
		{"host subnet", func(st *kernel.State) {
			st.Addrs = append(st.Addrs, kernel.HostAddr{Prefix: netip.MustParsePrefix("10.0.0.77/16"), Link: "eth0"})
		}, "bridge br-ns: 10.0.0.1/24 overlaps 10.0.0.77/16 on the host's link eth0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := emptyState()
			tc.edit(st)
			_, err := Up(tl, st)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v\nwant it to contain %q", err, tc.want)
			}
			if errors.Is(err, ErrLabExists) {
				t.Errorf("a foreign object made the lab count as up: %v", err)
			}
		})
	}
}

func TestUpOfRunningLab(t *testing.T) {
	st := emptyState()
	st.Namespaces["seed.ns1"] = kernel.Marker("seed", kernel.KindNode, "ns1")
	if _, err := Up(load(t, "../examples/seed.yaml"), st); !errors.Is(err, ErrLabExists) {
		t.Errorf("got %v, want ErrLabExists", err)
	}
}

func TestDownTouchesOnlyTheLab(t *testing.T) {
	st := emptyState()
	st.Namespaces = map[string]string{
		"seed.ns1":  kernel.Marker("seed", kernel.KindNode, "ns1"),
		"seed.ns2":  "", // made by hand with the lab's naming
		"other.ns1": kernel.Marker("other", kernel.KindNode, "ns1"),
		"seedy.ns1": kernel.Marker("seedy", kernel.KindNode, "ns1"),
	}
	for _, l := range []*kernel.RootLink{
		{Name: "nb-1", Alias: kernel.Marker("seed", kernel.KindBridge, "br-ns")},
		{Name: "np-1", Alias: kernel.Marker("seed", kernel.KindPort, "ns1:eth0")},
		{Name: "nh-1", Alias: kernel.Marker("seed", kernel.KindHost, "up")},
		{Name: "np-2", Alias: kernel.Marker("other", kernel.KindPort, "ns1:eth0")},
		{Name: "eth0"},
		{Name: "br-ns", Alias: "seed"},
	} {
		st.Links[l.Name] = l
	}
	got := script(t, Down("seed", st))
	want := `# bridges down (1)
ip link set nb-1 down

# links (3)
ip link delete nb-1
ip link delete nh-1
ip link delete np-1

# namespaces (2)
ip netns delete seed.ns1
nft delete table inet nslab-seed

# release (1)
# the namespaces above are freed by the kernel together
`
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("down plan, links outside the lab's group (-want +got):\n%s", d)
	}

	// With every link of the lab in its group, and nothing else there,
	// one request deletes them all but the bridges, which leave the group
	// as they go down and go after their ports, in one request of their
	// group.
	g, bg := Group("seed"), BridgeGroup("seed")
	for _, n := range []string{"nb-1", "np-1", "nh-1"} {
		st.Links[n].Group = g
	}
	want = fmt.Sprintf(`# bridges down (1)
ip link set nb-1 down group %d

# links (1)
ip link delete group %d   # the lab's 2 links

# bridges (1)
ip link delete group %d   # the lab's 1 links
`, bg, g, bg)
	if got := script(t, Down("seed", st)); !strings.HasPrefix(got, want) {
		t.Errorf("down plan with the lab's group (-want +got):\n%s", cmp.Diff(want, got))
	}
	// Killed after the bridges moved: they are still the lab's, and go
	// after the rest as before.
	st.Links["nb-1"].Group = bg
	if got := script(t, Down("seed", st)); !strings.HasPrefix(got, strings.Replace(want, fmt.Sprintf(" down group %d", bg), " down", 1)) {
		t.Errorf("down plan after a down killed once the bridges moved (-want +got):\n%s", cmp.Diff(want, got))
	}
	// Something foreign in the bridges' group: the bridges stay in the
	// lab's group and go with it, and the foreign link stays.
	st.Links["nb-1"].Group = g
	st.Links["eth8"] = &kernel.RootLink{Name: "eth8", Group: bg}
	if got := script(t, Down("seed", st)); strings.Contains(got, fmt.Sprint(bg)) || !strings.Contains(got, fmt.Sprintf("ip link delete group %d   # the lab's 3 links\n", g)) {
		t.Errorf("down plan with a foreign link in the bridges' group:\n%s", got)
	}
	delete(st.Links, "eth8")
	// A foreign link in the group makes down delete one by one.
	st.Links["eth9"] = &kernel.RootLink{Name: "eth9", Group: g}
	if got := script(t, Down("seed", st)); strings.Contains(got, "group") || !strings.Contains(got, "ip link delete np-1") || strings.Contains(got, "eth9") {
		t.Errorf("down plan with a foreign link in the lab's group:\n%s", got)
	}
}

func TestKernelNames(t *testing.T) {
	names := map[string]bool{}
	for _, n := range []string{BridgeName("a", "b"), BridgeName("b", "b"), PortName("a", "n", "eth0"), PortName("a", "n", "eth1"), HostIfName("a", "x")} {
		if len(n) > 15 {
			t.Errorf("%s is longer than IFNAMSIZ-1", n)
		}
		if names[n] {
			t.Errorf("%s twice", n)
		}
		names[n] = true
	}
	if BridgeName("lab", "br0") != BridgeName("lab", "br0") {
		t.Error("kernel names are not stable")
	}
	if mac := BridgeMAC("lab", "br0"); mac[0]&1 != 0 || mac[0]&2 == 0 {
		t.Errorf("bridge MAC %s is not a locally administered unicast address", mac)
	}
}
