package main

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"go.yaml.in/yaml/v3"
)

// reconcileRuns is how often each change to the running lab is made.
const reconcileRuns = 3

// reconcileStep is one kind of change to a running lab, timed each time
// it is made.
type reconcileStep struct {
	Name  string
	Times []time.Duration
	OK    string   // what was verified after every run
	Fails []string // verifications that failed
	Err   string   // an up failed: the runs after it were not made
}

// reconcileRun is `nslab up FILE` on a running star: one link changed and
// changed back, one node added and removed again.
type reconcileRun struct {
	N     int
	Lab   string
	Nodes int
	Steps []*reconcileStep // change, back, add, remove
	Err   string           // the files could not be prepared
}

func (s *reconcileStep) status() string {
	switch {
	case s.Err != "":
		return "FAILED: " + s.Err
	case len(s.Fails) > 0:
		return "NOT APPLIED: " + strings.Join(firstN(s.Fails, 3), "; ")
	case len(s.Times) == 0:
		return "not run"
	}
	return "ok: " + s.OK
}

// reconcileFiles are the topology files of the reconcile test.
type reconcileFiles struct {
	node, iface string // the host whose link changes
	keep        string // a node the changes must not touch
	mtuPath     string // the file with mtu on node's iface
	mtu         int
	added       string // the node added by addPath
	addedAddrs  []string
	link        string // what the added node's interface links to
	addPath     string // the file with one node more
}

// prepareReconcile writes, beside the lab's topology file, a copy where
// one host's interface gets an MTU and a copy with one host more, on the
// same link as that host, with addresses no other part of the file uses.
// Both are the file's text with one insertion (placed by the positions
// the YAML parser reports), so that `diff` shows just the change.
func (b *bench) prepareReconcile(name, path string, lf *labFile) (*reconcileFiles, error) {
	hosts := lf.hosts()
	if len(hosts) < 2 {
		return nil, fmt.Errorf("%s: fewer than two hosts", path)
	}
	f := &reconcileFiles{node: fmt.Sprintf("h%d", len(hosts)/2), keep: "h1", mtu: 1400}
	if _, ok := lf.Nodes[f.node]; !ok {
		f.node = hosts[len(hosts)/2]
	}
	if _, ok := lf.Nodes[f.keep]; !ok || f.keep == f.node {
		f.keep = hosts[0]
	}
	for i := len(lf.Nodes) + 1; ; i++ {
		if _, ok := lf.Nodes[fmt.Sprintf("h%d", i)]; !ok {
			f.added = fmt.Sprintf("h%d", i)
			break
		}
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	doc := &yaml.Node{}
	if err := yaml.Unmarshal(data, doc); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%s: not a mapping", path)
	}
	root := doc.Content[0]
	nodes := mapGet(root, "nodes")
	if nodes == nil || nodes.Kind != yaml.MappingNode || len(nodes.Content) == 0 {
		return nil, fmt.Errorf("%s: no nodes", path)
	}
	// Without a name, up would name the lab after the file, and build
	// a second lab.
	named := func(edits ...edit) []edit {
		if mapGet(root, "name") == nil {
			edits = append(edits, edit{1, 1, "name: " + name + "\n"})
		}
		return edits
	}

	// The changed link: "{link: br0, mtu: 1400, addresses: […]}".
	ifaces := mapGet(mapGet(nodes, f.node), "interfaces")
	if ifaces == nil || ifaces.Kind != yaml.MappingNode || len(ifaces.Content) < 2 ||
		ifaces.Content[1].Kind != yaml.MappingNode || len(ifaces.Content[1].Content) == 0 {
		return nil, fmt.Errorf("%s: node %s has no interfaces", path, f.node)
	}
	f.iface = ifaces.Content[0].Value
	iface := ifaces.Content[1]
	if mapGet(iface, "mtu") != nil {
		return nil, fmt.Errorf("%s: %s's %s has an mtu already", path, f.node, f.iface)
	}
	var e edit
	switch k := iface.Content; {
	case iface.Style&yaml.FlowStyle == 0: // a line of its own, before the first key
		e = edit{k[0].Line, 1, fmt.Sprintf("%*smtu: %d\n", k[0].Column-1, "", f.mtu)}
	case len(k) >= 4: // after the first key and its value
		e = edit{k[2].Line, k[2].Column, fmt.Sprintf("mtu: %d, ", f.mtu)}
	default:
		e = edit{k[0].Line, k[0].Column, fmt.Sprintf("mtu: %d, ", f.mtu)}
	}
	f.mtuPath = strings.TrimSuffix(path, ".yaml") + "-mtu.yaml"
	if err := writeEdited(f.mtuPath, data, named(e)...); err != nil {
		return nil, err
	}

	// The added node: a copy of the changed host with new addresses, no
	// MTU and no MAC of its own, placed after it.
	used := usedAddrs(doc)
	node := deepCopy(mapGet(nodes, f.node))
	ifs := mapGet(node, "interfaces").Content
	for i := 1; i < len(ifs); i += 2 {
		ifn := ifs[i]
		mapDel(ifn, "mtu")
		mapDel(ifn, "mac")
		if l := mapGet(ifn, "link"); l != nil && f.link == "" {
			f.link = l.Value
		}
		addrs := mapGet(ifn, "addresses")
		if addrs == nil {
			continue
		}
		list := addrs.Content
		if addrs.Kind == yaml.ScalarNode {
			list = []*yaml.Node{addrs}
		}
		for _, a := range list {
			p, err := netip.ParsePrefix(strings.TrimSpace(a.Value))
			if err != nil {
				return nil, fmt.Errorf("%s: node %s: address %q: %v", path, f.node, a.Value, err)
			}
			free, ok := freeAddr(p, used)
			if !ok {
				return nil, fmt.Errorf("%s: no free address left in %s", path, p.Masked())
			}
			used[free] = true
			a.Value = netip.PrefixFrom(free, p.Bits()).String()
			f.addedAddrs = append(f.addedAddrs, a.Value)
		}
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&yaml.Node{Kind: yaml.MappingNode, Content: []*yaml.Node{{Kind: yaml.ScalarNode, Value: f.added}, node}}); err != nil {
		return nil, err
	}
	enc.Close()
	first := nodes.Content[0]
	at := first.Line // before the node after the changed one, else before the first
	for i := 0; i+2 < len(nodes.Content); i += 2 {
		if nodes.Content[i].Value == f.node {
			at = nodes.Content[i+2].Line
		}
	}
	indent := strings.Repeat(" ", first.Column-1)
	text := indent + strings.ReplaceAll(strings.TrimSuffix(buf.String(), "\n"), "\n", "\n"+indent) + "\n"
	f.addPath = strings.TrimSuffix(path, ".yaml") + "-add.yaml"
	if err := writeEdited(f.addPath, data, named(edit{at, 1, text})...); err != nil {
		return nil, err
	}
	return f, nil
}

// edit inserts text at a line and column of a file, both from 1.
type edit struct {
	line, col int
	text      string
}

// writeEdited writes data with the edits, made from the last one up.
func writeEdited(path string, data []byte, edits ...edit) error {
	lines := strings.SplitAfter(string(data), "\n")
	sort.Slice(edits, func(i, j int) bool {
		return edits[i].line > edits[j].line || edits[i].line == edits[j].line && edits[i].col > edits[j].col
	})
	for _, e := range edits {
		if e.line < 1 || e.line > len(lines) || e.col < 1 || e.col-1 > len(lines[e.line-1]) {
			return fmt.Errorf("%s: no line %d, column %d to edit", path, e.line, e.col)
		}
		l := lines[e.line-1]
		lines[e.line-1] = l[:e.col-1] + e.text + l[e.col-1:]
	}
	return os.WriteFile(path, []byte(strings.Join(lines, "")), 0o644)
}

func mapGet(m *yaml.Node, key string) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

func mapDel(m *yaml.Node, key string) {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			m.Content = append(m.Content[:i], m.Content[i+2:]...)
			return
		}
	}
}

func deepCopy(n *yaml.Node) *yaml.Node {
	if n == nil {
		return nil
	}
	c := *n
	c.Content = make([]*yaml.Node, len(n.Content))
	for i, x := range n.Content {
		c.Content[i] = deepCopy(x)
	}
	return &c
}

// usedAddrs is every address the file names anywhere: nodes, bridges,
// the host, routes.
func usedAddrs(n *yaml.Node) map[netip.Addr]bool {
	used := map[netip.Addr]bool{}
	var walk func(*yaml.Node)
	walk = func(n *yaml.Node) {
		if n.Kind == yaml.ScalarNode {
			s := strings.TrimSpace(n.Value)
			if p, err := netip.ParsePrefix(s); err == nil {
				used[p.Addr()] = true
			} else if a, err := netip.ParseAddr(s); err == nil {
				used[a] = true
			}
		}
		for _, c := range n.Content {
			walk(c)
		}
	}
	walk(n)
	return used
}

// freeAddr is the address after the highest one used in p's subnet (the
// generators number hosts upwards), else the lowest free one; never the
// subnet's own address nor, in IPv4, its broadcast address.
func freeAddr(p netip.Prefix, used map[netip.Addr]bool) (netip.Addr, bool) {
	p = p.Masked()
	usable := func(a netip.Addr) bool {
		if !a.IsValid() || !p.Contains(a) || a == p.Addr() || used[a] {
			return false
		}
		if a.Is4() && p.Bits() < 31 {
			if next := a.Next(); !next.IsValid() || !p.Contains(next) {
				return false // the broadcast address
			}
		}
		return true
	}
	var top netip.Addr
	for a := range used {
		if p.Contains(a) && (!top.IsValid() || top.Less(a)) {
			top = a
		}
	}
	if top.IsValid() && usable(top.Next()) {
		return top.Next(), true
	}
	for a, i := p.Addr().Next(), 0; a.IsValid() && p.Contains(a) && i < 1<<20; a, i = a.Next(), i+1 {
		if usable(a) {
			return a, true
		}
	}
	return netip.Addr{}, false
}

// reconcile changes the running lab name, built from path, with `nslab up`
// of other files: one host's link gets an MTU and back, one node is added
// and removed, reconcileRuns times each. Each up is timed as a whole
// command; after each the bench checks that the change is in the kernel
// and that another node kept its namespace (the same inode).
func (b *bench) reconcile(ctx context.Context, name, path string, n int) {
	rr := &reconcileRun{N: n, Lab: name}
	b.res.reconcile = rr
	lf, err := readLabFile(path)
	if err == nil {
		rr.Nodes = len(lf.Nodes)
	}
	var f *reconcileFiles
	if err == nil {
		f, err = b.prepareReconcile(name, path, lf)
	}
	if err != nil {
		rr.Err = err.Error()
		progress("star N=%d: reconcile not measured: %v", n, err)
		return
	}
	ns := func(node string) string { return name + "." + node }
	change := &reconcileStep{Name: fmt.Sprintf("change one link: %s's %s gets mtu %d", f.node, f.iface, f.mtu)}
	back := &reconcileStep{Name: "change it back (the file the lab was built from)"}
	add := &reconcileStep{Name: fmt.Sprintf("add one node: %s on %s (%s)", f.added, f.link, strings.Join(f.addedAddrs, ", "))}
	remove := &reconcileStep{Name: fmt.Sprintf("remove %s again (the file the lab was built from)", f.added)}
	repair := &reconcileStep{Name: "up --repair: every node inspected, nothing to put back"}
	fix := &reconcileStep{Name: fmt.Sprintf("up --repair after ip -n %s addr flush dev %s", ns(f.node), f.iface)}
	rr.Steps = []*reconcileStep{change, back, add, remove, repair, fix}

	mtu0, err := b.linkMTU(ctx, ns(f.node), f.iface)
	if err != nil {
		rr.Err = err.Error()
		return
	}
	change.OK = fmt.Sprintf("mtu %d in %s; %s kept its namespace", f.mtu, ns(f.node), f.keep)
	back.OK = fmt.Sprintf("mtu %d again; %s kept its namespace", mtu0, f.keep)
	add.OK = fmt.Sprintf("namespace %s there; %s kept its namespace", ns(f.added), f.keep)
	remove.OK = fmt.Sprintf("namespace %s gone; %s kept its namespace", ns(f.added), f.keep)
	repair.OK = fmt.Sprintf("%s kept its namespace", f.keep)
	fix.OK = fmt.Sprintf("%s's addresses back; %s kept its namespace", ns(f.node), f.keep)

	ip := []string{"ip", "-n", ns(f.node), "link", "show", f.iface}
	b.recordLine(b.shellLine([]string{b.nslab, "up", "-q", f.mtuPath}) +
		fmt.Sprintf("     # reconcile, %s alternating with the next: the lab's file with mtu: %d on %s's %s (written by the bench)", times(reconcileRuns), f.mtu, f.node, f.iface))
	b.recordLine(b.shellLine([]string{b.nslab, "up", "-q", path}) + "     # reconcile back to the file the lab was built from")
	b.recordLine(b.shellLine(ip) + fmt.Sprintf("     # after each of the two: mtu %d, then %d", f.mtu, mtu0))
	b.recordLine(fmt.Sprintf("stat -c %%i /run/netns/%s     # before and after each reconcile: the same inode", ns(f.keep)))
	b.recordLine(b.shellLine([]string{b.nslab, "up", "-q", f.addPath}) +
		fmt.Sprintf("     # reconcile, %s alternating with the next: the lab's file plus node %s (written by the bench)", times(reconcileRuns), f.added))
	b.recordLine(b.shellLine([]string{b.nslab, "up", "-q", path}) + fmt.Sprintf("     # reconcile: %s removed again", f.added))
	b.recordLine(fmt.Sprintf("test -e /run/netns/%s     # there after adding, gone after removing", ns(f.added)))
	b.recordLine(b.shellLine([]string{b.nslab, "up", "-q", "--repair", path}) + fmt.Sprintf("     # %s: nothing to put back", times(reconcileRuns)))
	b.recordLine(b.shellLine([]string{"ip", "-n", ns(f.node), "addr", "flush", "dev", f.iface}) + "; " +
		b.shellLine([]string{b.nslab, "up", "-q", "--repair", path}) + fmt.Sprintf("     # %s: the addresses put back", times(reconcileRuns)))

	wantMTU := func(want int) func() string {
		return func() string {
			got, err := b.linkMTU(ctx, ns(f.node), f.iface)
			switch {
			case err != nil:
				return err.Error()
			case got != want:
				return fmt.Sprintf("%s %s has mtu %d, not %d", ns(f.node), f.iface, got, want)
			}
			return ""
		}
	}
	nsThere := func(want bool) func() string {
		return func() string {
			_, err := os.Stat(filepath.Join("/run/netns", ns(f.added)))
			switch {
			case want && err != nil:
				return "no namespace " + ns(f.added) + ": " + err.Error()
			case !want && err == nil:
				return "namespace " + ns(f.added) + " still there"
			}
			return ""
		}
	}
	keep := filepath.Join("/run/netns", ns(f.keep))
	for _, pair := range [][2]*reconcileStep{{change, back}, {add, remove}} {
		there, gone := f.mtuPath, path
		check := [2]func() string{wantMTU(f.mtu), wantMTU(mtu0)}
		if pair[0] == add {
			there, check = f.addPath, [2]func() string{nsThere(true), nsThere(false)}
		}
		for run := 0; run < reconcileRuns; run++ {
			if !b.reconcileUp(ctx, name, pair[0], keep, check[0], there) ||
				!b.reconcileUp(ctx, name, pair[1], keep, check[1], gone) {
				return
			}
		}
	}
	none := func() string { return "" }
	addrsBack := func() string {
		r, err := b.run(ctx, runOpts{timeout: 30 * time.Second, norecord: true}, "ip", "-n", ns(f.node), "addr", "show", f.iface)
		if err != nil {
			return err.Error()
		}
		if !strings.Contains(r.Out, "scope global") {
			return fmt.Sprintf("%s %s has no global address", ns(f.node), f.iface)
		}
		return ""
	}
	for run := 0; run < reconcileRuns; run++ {
		if !b.reconcileUp(ctx, name, repair, keep, none, "--repair", path) {
			return
		}
	}
	for run := 0; run < reconcileRuns; run++ {
		if _, err := b.run(ctx, runOpts{timeout: 30 * time.Second, norecord: true}, "ip", "-n", ns(f.node), "addr", "flush", "dev", f.iface); err != nil {
			fix.Err = err.Error()
			return
		}
		if !b.reconcileUp(ctx, name, fix, keep, addrsBack, "--repair", path) {
			return
		}
	}
}

// reconcileUp times one `nslab up -q ARGS...` on the running lab and
// checks what it changed; false when up failed or the bench was
// interrupted.
func (b *bench) reconcileUp(ctx context.Context, name string, s *reconcileStep, keep string, check func() string, args ...string) bool {
	pause := 500 * time.Millisecond
	if b.cfg.quick {
		pause = 100 * time.Millisecond
	}
	select {
	case <-ctx.Done():
		return false
	case <-time.After(pause):
	}
	ino0, err0 := inode(keep)
	r, err := b.run(ctx, runOpts{timeout: 2 * time.Minute, stop: stopInterrupt, grace: time.Minute, norecord: true}, append([]string{b.nslab, "up", "-q"}, args...)...)
	if err != nil {
		s.Err = err.Error()
		progress("%s: reconcile: %s: %v", name, s.Name, err)
		return false
	}
	s.Times = append(s.Times, r.Wall)
	fail := check()
	if ino1, err1 := inode(keep); err0 != nil || err1 != nil || ino0 != ino1 {
		fail = strings.TrimPrefix(fail+"; "+keep+" was remade or is gone", "; ")
	}
	if fail != "" {
		s.Fails = append(s.Fails, fmt.Sprintf("run %d: %s", len(s.Times), fail))
	}
	if fail != "" {
		fail = ": " + fail
	}
	progress("%s: reconcile: %s in %s%s", name, s.Name, ms(r.Wall), fail)
	return true
}

var mtuField = regexp.MustCompile(`\bmtu (\d+)\b`)

func (b *bench) linkMTU(ctx context.Context, ns, iface string) (int, error) {
	r, err := b.run(ctx, runOpts{timeout: 30 * time.Second, norecord: true}, "ip", "-n", ns, "link", "show", iface)
	if err != nil {
		return 0, err
	}
	m := mtuField.FindStringSubmatch(r.Out)
	if m == nil {
		return 0, fmt.Errorf("ip -n %s link show %s: no mtu in %q", ns, iface, firstLine(r.Out))
	}
	return strconv.Atoi(m[1])
}

func inode(path string) (uint64, error) {
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		return 0, err
	}
	return st.Ino, nil
}

// reconcileTable holds the changes made to the running star.
func (b *bench) reconcileTable() *table {
	rr := b.res.reconcile
	if rr == nil {
		return nil
	}
	t := &table{title: "Changing a running lab (reconcile)", head: []string{"change", "median", "runs", "result"}}
	if rr.Err != "" {
		t.add("–", "–", "–", "FAILED: "+rr.Err)
	}
	for _, s := range rr.Steps {
		med := "–"
		if len(s.Times) > 0 {
			med = ms(median(s.Times))
		}
		runs := make([]string, len(s.Times))
		for i, d := range s.Times {
			runs[i] = ms(d)
		}
		t.add(s.Name, med, orDash(strings.Join(runs, ", "), "–"), s.status())
	}
	t.notes = append(t.notes,
		fmt.Sprintf("`nslab up -q FILE` on the running star of %d (%d nodes in the file), right after its first build and sampled check, before its down;", rr.N, rr.Nodes),
		fmt.Sprintf("whole command wall time, %s each, alternating change and way back, 0.5 s apart (0.1 s with -quick). After each, the bench reads", times(reconcileRuns)),
		"the change back from the kernel (ip link show; /run/netns) and checks that another node kept its namespace (same inode).")
	return t
}
