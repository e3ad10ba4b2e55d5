package logtail

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// bigLog writes a log of size bytes or a little more, of numbered lines,
// and returns its path and line count.
func bigLog(tb testing.TB, size int) (string, int) {
	tb.Helper()
	var b bytes.Buffer
	n := 0
	for b.Len() < size {
		fmt.Fprintf(&b, "line %08d of a service that prints a lot\n", n)
		n++
	}
	path := filepath.Join(tb.TempDir(), "svc.log")
	if err := os.WriteFile(path, b.Bytes(), 0o600); err != nil {
		tb.Fatal(err)
	}
	return path, n
}

// allocated returns the bytes f allocates.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// TestLastOfBigLogReadsItOnce: reading a whole log of 8 MiB (the cap is
// 10 MiB) costs a few times its size in memory, not its size times the
// number of 64 KiB chunks: Last put each chunk in front of all it had
// read, a copy of the whole each time (528 MiB for 8 MiB), and counted
// the newlines of all of it again for each chunk; nslab logs of a full log
// took 3.4 s for 20 MB.
func TestLastOfBigLogReadsItOnce(t *testing.T) {
	path, n := bigLog(t, 8<<20)
	for _, c := range []struct{ n, want int }{{-1, n}, {n - 10, n - 10}, {n + 10, n}} {
		var got []string
		var err error
		a := allocated(func() { got, err = Last(path, c.n) })
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != c.want || got[len(got)-1] != fmt.Sprintf("line %08d of a service that prints a lot", n-1) {
			t.Fatalf("Last(%d): %d lines ending %q, want %d", c.n, len(got), got[len(got)-1], c.want)
		}
		// The file, its lines as strings, and the slices that hold them.
		if limit := uint64(8 * (8 << 20)); a > limit {
			t.Errorf("Last(%d) of an 8 MiB log allocated %d MiB, want at most %d MiB", c.n, a>>20, limit>>20)
		}
	}
}

// BenchmarkLastFullLog reads a full 10 MiB log, as nslab logs does.
func BenchmarkLastFullLog(b *testing.B) {
	path, _ := bigLog(b, 10<<20)
	b.SetBytes(10 << 20)
	for b.Loop() {
		if _, err := Last(path, -1); err != nil {
			b.Fatal(err)
		}
	}
}
