package plan

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode"

	"github.com/google/go-cmp/cmp"
	"github.com/nslab/nslab/kernel"
	"github.com/nslab/nslab/topology"
)

// FuzzPlan parses any input; for a lab that validation accepts, it plans
// the lab on an empty machine and checks that planning succeeds, is
// deterministic, gives kernel names the kernel takes, and that down, on
// the machine the plan makes, removes exactly what up made.
func FuzzPlan(f *testing.F) {
	var seeds []string
	for _, pattern := range []string{"../examples/*.yaml", "../topology/testdata/good/*.yaml", "../topology/testdata/bad/*.yaml"} {
		files, err := filepath.Glob(pattern)
		if err != nil || len(files) == 0 {
			f.Fatalf("no seeds in %s: %v", pattern, err)
		}
		seeds = append(seeds, files...)
	}
	for _, path := range seeds {
		data, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		if len(data) < 4096 {
			f.Add(data)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		lab, err := topology.Parse("fuzz.yaml", data)
		if err != nil {
			return
		}
		p, err := Up(lab, emptyState())
		if err != nil {
			t.Fatalf("Up of a valid lab on an empty machine: %v", err)
		}
		again, _ := topology.Parse("fuzz.yaml", data)
		q, err := Up(again, emptyState())
		if err != nil {
			t.Fatalf("second Up: %v", err)
		}
		s1, s2 := script(t, p), script(t, q)
		if s1 != s2 || !reflect.DeepEqual(p, q) {
			t.Fatalf("two plans of one lab differ:\n%s", cmp.Diff(s1, s2))
		}
		checkPlanText(t, s1)
		st := checkKernelNames(t, p)
		checkDown(t, lab, st)
		// A running lab and its own file differ in nothing.
		r, err := Reconcile(lab, again, running(t, lab))
		if err != nil {
			t.Fatalf("reconciling a lab with its own file: %v", err)
		}
		if !r.Empty() {
			t.Fatalf("reconciling a lab with its own file plans:\n%s", script(t, r))
		}
	})
}

var singleQuoted = regexp.MustCompile(`'[^'\n]*'`)

// checkPlanText checks that the printed plan is plain text: what a hostile
// file could smuggle into a shell script must have been refused before.
// Words in single quotes (trunk altnames such as 'LAB.br1>br0') are
// quoted on purpose and left out.
func checkPlanText(t *testing.T, s string) {
	t.Helper()
	if i := strings.IndexFunc(s, func(r rune) bool { return r != '\n' && !unicode.IsPrint(r) }); i >= 0 {
		t.Fatalf("the plan holds the character %q: %.200s", s[i], s[max(0, i-100):])
	}
	// A quoted here-document (nft -f - <<'EOF') is literal up to its
	// EOF line: drop its body, after checking that nothing in it ends it
	// early.
	var kept []string
	inDoc := false
	for _, l := range strings.Split(s, "\n") {
		switch {
		case strings.HasSuffix(l, "<<'EOF'"):
			inDoc = true
			kept = append(kept, strings.TrimSuffix(l, "<<'EOF'"))
		case inDoc:
			inDoc = l != "EOF"
		default:
			kept = append(kept, l)
		}
	}
	s = strings.Join(kept, "\n")
	s = singleQuoted.ReplaceAllString(s, "Q")
	if i := strings.IndexAny(s, "$`;|&<>\\'"); i >= 0 {
		t.Fatalf("the plan holds the shell character %q: %.200s", s[i], s[max(0, i-100):])
	}
}

// checkKernelNames checks the names the plan gives the kernel, and returns
// the state of a machine on which the plan has run.
func checkKernelNames(t *testing.T, p *Plan) *kernel.State {
	t.Helper()
	st := emptyState()
	name := func(ns, n string) {
		if n == "" || len(n) > 15 || n == "." || n == ".." || strings.ContainsAny(n, "/: \t\n") {
			t.Fatalf("interface name %q in namespace %q: the kernel refuses it", n, ns)
		}
	}
	root := func(n string, tags kernel.Tags, kind string, mtu int, mac net.HardwareAddr) {
		name("", n)
		if len(tags.AltName) > 127 || len(tags.Alias) > 255 {
			t.Fatalf("%s %s: altname %q or alias %q too long", kind, n, tags.AltName, tags.Alias)
		}
		for _, key := range []string{n, tags.AltName} {
			if key == "" {
				continue
			}
			if _, dup := st.Names[key]; dup {
				t.Fatalf("two links of the lab are named %s on the host", key)
			}
			st.Names[key] = n
		}
		if mtu == 0 {
			mtu = 1500
		}
		st.Links[n] = &kernel.RootLink{Name: n, Alias: tags.Alias, Type: kind, Index: len(st.Links) + 1, Group: tags.Group, Up: true, MTU: mtu, MAC: mac}
		if tags.AltName != "" {
			st.Links[n].AltNames = []string{tags.AltName}
		}
	}
	inNS := map[string]map[string]bool{}
	local := func(ns, n string) {
		name(ns, n)
		if _, ok := st.Namespaces[ns]; !ok {
			t.Fatalf("link %s in namespace %s, which the plan does not make first", n, ns)
		}
		if inNS[ns][n] {
			t.Fatalf("two links named %s in namespace %s", n, ns)
		}
		inNS[ns][n] = true
	}
	for _, s := range p.Stages {
		for _, op := range s.Ops {
			if op.String() == "" {
				t.Fatalf("op %#v prints nothing", op)
			}
			switch o := op.(type) {
			case *kernel.NetnsAdd:
				if o.Name == "" || len(o.Name) > 255 || strings.ContainsAny(o.Name, "/\x00") || o.Name == "." || o.Name == ".." {
					t.Fatalf("namespace name %q", o.Name)
				}
				if _, dup := st.Namespaces[o.Name]; dup {
					t.Fatalf("namespace %s made twice", o.Name)
				}
				st.Namespaces[o.Name] = o.Marker
				inNS[o.Name] = map[string]bool{}
			case *kernel.BridgeAdd:
				root(o.Name, o.Tags, "bridge", o.MTU, o.MAC)
			case *kernel.TapAdd:
				root(o.Name, o.Tags, "tun", o.MTU, nil)
			case *kernel.VXLANAdd:
				local(o.NS, o.Name)
			case *kernel.VethAdd:
				for _, end := range []struct {
					ns, name string
					tags     kernel.Tags
					mac      net.HardwareAddr
					master   string
				}{{o.NS, o.Name, o.Tags, o.MAC, o.Master}, {o.PeerNS, o.PeerName, o.PeerTags, o.PeerMAC, o.PeerMaster}} {
					if end.ns == "" {
						root(end.name, end.tags, "veth", o.MTU, end.mac)
						if br := st.Links[end.master]; br != nil {
							st.Links[end.name].Master = br.Index
						}
					} else {
						local(end.ns, end.name)
					}
				}
			}
		}
	}
	return st
}

// checkDown checks that on the machine the plan made, up finds the lab
// running and down removes every namespace and host link of it.
func checkDown(t *testing.T, lab *topology.Lab, st *kernel.State) {
	t.Helper()
	if _, err := Up(lab, st); !errors.Is(err, ErrLabExists) {
		t.Fatalf("Up of a lab that is up: %v, want ErrLabExists", err)
	}
	var gone []string
	for _, s := range Down(lab.Name, st).Stages {
		for _, op := range s.Ops {
			switch o := op.(type) {
			case *kernel.NetnsDel:
				gone = append(gone, "netns "+o.Name)
			case *kernel.LinkDel:
				gone = append(gone, "link "+o.Name)
			case *kernel.LinkGroupDel:
				for _, n := range o.Names {
					gone = append(gone, "link "+n)
				}
			}
		}
	}
	var made []string
	for n := range st.Namespaces {
		made = append(made, "netns "+n)
	}
	for n := range st.Links {
		made = append(made, "link "+n)
	}
	slices.Sort(gone)
	slices.Sort(made)
	if d := cmp.Diff(made, gone); d != "" {
		t.Fatalf("down removes other things than up made (-made +removed):\n%s", d)
	}
}
