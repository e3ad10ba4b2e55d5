package topology

import (
	"errors"
	"os"
	"testing"
)

// FuzzParse checks that Parse never panics, that what it accepts is a
// consistent model, and that errors are well formed and inside the file.
func FuzzParse(f *testing.F) {
	for _, dir := range []string{"good", "bad"} {
		for _, path := range testFiles(f, dir) {
			data, err := os.ReadFile(path)
			if err != nil {
				f.Fatal(err)
			}
			if len(data) < 4096 {
				f.Add(data)
			}
		}
	}
	for _, s := range []string{
		"%YAML 1.1\n---\nname: *x\nbridges: {br0: {}}\n",
		"name: x\nbridges: {br0: *b, br1: &b {}}\nnodes:\n  a: {}\n  : {}\n",
		"name: x\nnodes: &n\n  a: *n\n  b: {<<: [*n]}\n",
		"\uFEFF---\nname: !!str x\nnodes: {a: {router: &t !x True, sysctls: {net.a: 0x10}}}\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		lab, err := Parse("fuzz.yaml", data)
		checkResult(t, data, lab, err)
	})
}

func checkResult(t *testing.T, data []byte, lab *Lab, err error) {
	t.Helper()
	if err == nil {
		if cerr := checkModel(lab); cerr != nil {
			t.Fatalf("Parse accepted an inconsistent lab: %v\n%s", cerr, dumpLab(lab))
		}
		return
	}
	var list ErrorList
	if !errors.As(err, &list) || len(list) == 0 || len(list) > maxErrors+1 {
		t.Fatalf("Parse: bad error %#v", err)
	}
	lines := len(lineStarts(data)) - 1
	for _, e := range list {
		if e.Pos.File != "fuzz.yaml" || e.Msg == "" {
			t.Fatalf("bad error %q", e)
		}
		if e.Pos.Line != 0 && (e.Pos.Line > lines || e.Pos.Line < 1 || e.Pos.Col < 1) {
			t.Fatalf("error %q is outside the %d lines of the file", e, lines)
		}
	}
}
