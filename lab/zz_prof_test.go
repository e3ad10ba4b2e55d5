package lab_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/nslab/nslab/lab"
	"github.com/nslab/nslab/topology"
)

func TestStages(t *testing.T) {
	data, _ := os.ReadFile(os.Getenv("TOPO"))
	tl, err := topology.Parse("x.yaml", data)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	last := ""
	var lastT time.Time
	opt := lab.Options{Progress: func(stage string, done, total int) {
		if stage != last {
			now := time.Now()
			if last != "" {
				t.Logf("%-12s ended at %v (took %v)", last, now.Sub(start), now.Sub(lastT))
			}
			last, lastT = stage, now
		}
	}}
	if err := lab.Up(context.Background(), tl, data, opt); err != nil {
		t.Fatal(err)
	}
	t.Logf("%-12s ended; up total %v", last, time.Since(start))
	s2 := time.Now()
	if err := lab.Down(context.Background(), tl.Name, lab.Options{}); err != nil {
		t.Fatal(err)
	}
	t.Logf("down %v", time.Since(s2))
}
