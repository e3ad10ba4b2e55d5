package topology

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// timeScale stretches the time limits of the tests below: the race
// detector (race_test.go) makes parsing much slower.
var timeScale time.Duration = 1

// parseTime parses data and returns the CPU time the fastest of up to
// three runs took, and the error: CPU time, not the wall clock, so that a
// busy machine (other test binaries, other users) does not fail the test
// while a parser slow on the input does; a run over limit is repeated.
func parseTime(name string, data []byte, limit time.Duration) (time.Duration, error) {
	var err error
	best := time.Duration(1<<63 - 1)
	for range 3 {
		start := cpuTime()
		_, err = Parse(name, data)
		best = min(best, cpuTime()-start)
		if best <= limit {
			break
		}
	}
	return best, err
}

// TestBadFilesFast checks that every bad file is rejected quickly.
func TestBadFilesFast(t *testing.T) {
	// The slowest takes about 150 ms here; the margin is for a busy CI.
	limit := 500 * time.Millisecond * timeScale
	var slowest string
	var worst time.Duration
	files := testFiles(t, "bad")
	for _, path := range files {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		d, err := parseTime(filepath.Base(path), data, limit)
		var list ErrorList
		if !errors.As(err, &list) {
			t.Errorf("%s: got %v, want an ErrorList", path, err)
		}
		if d > limit {
			t.Errorf("%s: rejected in %v of CPU time, more than %v", path, d, limit)
		}
		if d > worst {
			worst, slowest = d, path
		}
	}
	t.Logf("%d bad files; the slowest, %s, took %v", len(files), slowest, worst)
}

// TestHugeFiles checks hostile files of 10 MB, refused up front, and of
// just under MaxFileSize: each is rejected within seconds, with a
// message that says why.
func TestHugeFiles(t *testing.T) {
	const size = MaxFileSize - 1000
	// The slowest takes about 1.6 s here; the margin is for a busy CI.
	limit := 5 * time.Second * timeScale
	lab := func(n int) []byte { // a valid lab of at least n bytes
		var b bytes.Buffer
		b.WriteString("name: huge\nbridges: {br0: {}}\nnodes:\n")
		for i := 0; b.Len() < n; i++ {
			fmt.Fprintf(&b, "  n%d:\n    interfaces:\n      eth0: {link: br0}\n", i)
		}
		return b.Bytes()
	}
	fill := func(prefix string, c byte, suffix string) []byte {
		return []byte(prefix + strings.Repeat(string(c), size-len(prefix)-len(suffix)) + suffix)
	}
	valid := lab(size - 100)
	lines := bytes.Count(valid, []byte("\n"))
	then := func(s string) []byte { return append(bytes.Clone(valid), s...) }
	padTo := func(n int) []byte { return then("#" + strings.Repeat(" ", n-len(valid)-2) + "\n") }
	tooLarge := func(n int) string {
		return fmt.Sprintf("huge.yaml: the file is %.1f MiB (%d bytes); topology files are limited to 8 MiB (8388608 bytes)", float64(n)/(1<<20), n)
	}
	tests := []struct {
		name string
		data []byte
		want string
	}{
		{"10 MB", padTo(10_000_000), tooLarge(10_000_000)},
		{"10 MiB of zeros", make([]byte, 10<<20), tooLarge(10 << 20)},
		{"one byte over", padTo(MaxFileSize + 1), tooLarge(MaxFileSize + 1)},
		{"one long value", fill("name: x\nbridges: {br0: {}}\nnodes: {a: {interfaces: {e0: {link: ", 'b', "}}}}\n"),
			fmt.Sprintf(`huge.yaml:3:37: value "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb..." is %d bytes long; a value in a topology file is at most 1024 bytes`, size-68)},
		{"one long key", fill("name: x\nnodes:\n  ", 'k', ": {}\n"),
			fmt.Sprintf("huge.yaml:3:3: YAML syntax: a key of %d characters; YAML reads keys of at most 1024 characters, and names in a topology file are much shorter", size-22)},
		{"a syntax error on the last line", then("  : {}\n"),
			fmt.Sprintf("huge.yaml:%d:1: YAML syntax: did not find expected key", lines+1)},
		{"an unclosed quote on the first line", append([]byte("name: \"x\n"), valid[len("name: huge\n"):]...),
			"huge.yaml:1:1: YAML syntax: found unexpected end of stream: a quoted string is not closed"},
		{"an unclosed flow mapping", fill("name: x\nnodes: {", ' ', ""),
			"huge.yaml:2:1: YAML syntax: did not find expected node content"},
		{"nesting", fill("name: x\nnodes: ", '[', ""),
			"huge.yaml:2:1: lists and mappings nest deeper than 10000 levels"},
		{"a tab on the last line", then("\tn: {}\n"),
			fmt.Sprintf("huge.yaml:%d:1: YAML syntax: found a tab character where a token should start; indent with spaces", lines+1)},
		{"a control character at the end", then("# \x07\n"),
			fmt.Sprintf("huge.yaml:%d:3: the file contains the character U+0007, which YAML does not allow; in a double-quoted string write it as an escape", lines+1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if testing.Short() && len(tt.data) <= MaxFileSize {
				t.Skip("parsing a file of 8 MiB takes up to 2 seconds")
			}
			d, err := parseTime("huge.yaml", tt.data, limit)
			got := fmt.Sprint(err)
			if i := strings.IndexByte(got, '\n'); i >= 0 {
				got = got[:i] + " ..."
			}
			if got != tt.want {
				t.Errorf("%d bytes: got\n%s\nwant\n%s", len(tt.data), got, tt.want)
			}
			if d > limit {
				t.Errorf("%d bytes: rejected in %v of CPU time, more than %v", len(tt.data), d, limit)
			}
			t.Logf("%d bytes in %v", len(tt.data), d)
		})
	}
	// Load refuses a large file before reading it.
	path := filepath.Join(t.TempDir(), "huge.yaml")
	if err := os.WriteFile(path, padTo(10_000_000), 0o644); err != nil {
		t.Fatal(err)
	}
	start := cpuTime()
	if _, err := Load(path); err == nil || !strings.Contains(err.Error(), "topology files are limited to 8 MiB") {
		t.Errorf("Load: %v", err)
	}
	if d := cpuTime() - start; d > limit {
		t.Errorf("Load took %v", d)
	}
}

// TestMergeChain checks a "billion laughs" of merge keys: ten levels of
// ten merges would make 10^9 mappings, but each merged mapping is read
// once and merged keys collapse, so the lab is small and accepted at once.
func TestMergeChain(t *testing.T) {
	var b strings.Builder
	b.WriteString("name: mergechain\nnodes:\n  n0:\n    sysctls: &l0 {net.a: 1}\n")
	for i := 1; i < 10; i++ {
		fmt.Fprintf(&b, "  n%d:\n    sysctls: &l%d {<<: [%s]}\n", i, i, strings.TrimSuffix(strings.Repeat(fmt.Sprintf("*l%d, ", i-1), 10), ", "))
	}
	limit := 500 * time.Millisecond * timeScale
	start := cpuTime()
	lab, err := Parse("chain.yaml", []byte(b.String()))
	if d := cpuTime() - start; d > limit {
		t.Errorf("parsed in %v of CPU time, more than %v", d, limit)
	}
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range lab.Nodes {
		if len(n.Sysctls) != 1 || n.Sysctls[0].Key != "net.a" || n.Sysctls[0].Value != "1" {
			t.Errorf("node %s: sysctls %v", n.Name, n.Sysctls)
		}
	}
}

// TestNotTopologyQuotesOnlyItsStart: a file that is not a topology (a
// password file given by mistake or through a symlink, an env file, a
// list) gets one message that quotes at most the first 40 characters of
// the file, never its lines.
func TestNotTopologyQuotesOnlyItsStart(t *testing.T) {
	hash := "$6$saltsaltsaltsalt$HASHSECRETHASHSECRETHASHSECRETHASHSECRET"
	tests := map[string]string{
		"shadow":   "systemd-timesync-daemon-user-of-the-host:" + hash + ":19000:0:99999:7:::\nbob:" + hash + ":19000::::::\nalice:" + hash + ":1:::::\n",
		"passwd":   "root:x:0:0:root:/root:/bin/bash-HASHSECRET\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin-HASHSECRET\n",
		"env":      "AWS_ACCESS_KEY_ID: AKIAAAAAAAAAAAAAAAAAAAAAA-HASHSECRET\nAWS_SECRET_ACCESS_KEY: HASHSECRET\nTOKEN_HASHSECRET: 1\n",
		"json":     `{"password": "hunter2hunter2hunter2hunter2-HASHSECRET", "HASHSECRET": 1}`,
		"list":     "- " + strings.Repeat("x", 40) + "HASHSECRET\n- " + strings.Repeat("HASHSECRET", 200) + "\n",
		"integer":  strings.Repeat("1", 40) + strings.Repeat("9", 900) + "\n",
		"longkeys": strings.Repeat("k", 41) + "HASHSECRET: 1\n" + strings.Repeat("HASHSECRET", 120) + ": 2\n",
	}
	for name, data := range tests {
		_, err := Parse(name, []byte(data))
		var list ErrorList
		if !errors.As(err, &list) {
			t.Errorf("%s: got %v, want an ErrorList", name, err)
			continue
		}
		if len(list) != 1 || strings.Contains(err.Error(), "HASHSECRET") || strings.Contains(err.Error(), "9") {
			t.Errorf("%s: %d messages quote more than the start of the file:\n%v", name, len(list), err)
		}
	}
}
