package stockvm

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// bootModules mount the host's root over 9p in the guest.
var bootModules = []string{"virtio_pci", "9pnet_virtio", "9p"}

// nicModules drive the guest's network card (Job.Tap).
var nicModules = []string{"virtio_net"}

// moduleName is a module's name as modprobe takes it: the file's base
// name without .ko, dashes as underscores.
func moduleName(path string) string {
	b := filepath.Base(path)
	if i := strings.Index(b, ".ko"); i >= 0 {
		b = b[:i]
	}
	return strings.ReplaceAll(b, "-", "_")
}

// depTable is modules.dep read: each module's file and what it needs.
type depTable struct {
	file    map[string]string   // name -> path relative to the modules' directory
	deps    map[string][]string // name -> names, as listed
	builtin map[string]bool
}

func readDeps(dir string) (*depTable, error) {
	t := &depTable{file: map[string]string{}, deps: map[string][]string{}, builtin: map[string]bool{}}
	f, err := os.Open(filepath.Join(dir, "modules.dep"))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		mod, deps, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		n := moduleName(mod)
		t.file[n] = mod
		for _, d := range strings.Fields(deps) {
			t.deps[n] = append(t.deps[n], moduleName(d))
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if b, err := os.ReadFile(filepath.Join(dir, "modules.builtin")); err == nil {
		for _, l := range strings.Fields(string(b)) {
			t.builtin[moduleName(l)] = true
		}
	}
	return t, nil
}

// order lists the files to insmod, dependencies first, for the named
// modules; a built-in module needs none.
func (t *depTable) order(names ...string) ([]string, error) {
	var out []string
	seen := map[string]bool{}
	var visit func(n string) error
	visit = func(n string) error {
		n = strings.ReplaceAll(n, "-", "_")
		if seen[n] || t.builtin[n] {
			return nil
		}
		seen[n] = true
		f, ok := t.file[n]
		if !ok {
			return fmt.Errorf("no module %s in modules.dep", n)
		}
		if !strings.HasSuffix(f, ".ko") {
			return fmt.Errorf("module %s is compressed (%s): busybox's insmod takes plain .ko files", n, f)
		}
		deps := t.deps[n]
		for i := len(deps) - 1; i >= 0; i-- {
			if err := visit(deps[i]); err != nil {
				return err
			}
		}
		out = append(out, f)
		return nil
	}
	for _, n := range names {
		if err := visit(n); err != nil {
			return nil, err
		}
	}
	return out, nil
}
