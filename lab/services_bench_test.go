package lab_test

import (
	"context"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/nslab/nslab/lab"
	"github.com/nslab/nslab/nslabtest"
)

// BenchmarkServices1000: a lab of 1000 nodes (NSLAB_BENCH_NODES to
// change it) with `sleep infinity` on each node: up with and without the
// services, the first restart of a killed service (restart: always), the
// supervisor's RSS at 1000 services. Run as root:
//
//	go test -run '^$' -bench BenchmarkServices1000 -benchtime 1x ./lab
func BenchmarkServices1000(b *testing.B) {
	nslabtest.RequireRoot(b)
	n := 1000
	if v, err := strconv.Atoi(os.Getenv("NSLAB_BENCH_NODES")); err == nil {
		n = v
	}
	for range b.N {
		name := nslabtest.Name("supb")
		f, err := lab.MeasureServices(context.Background(), name, n, 20, b.Logf)
		nslabtest.CheckLeaks(b, name)
		if err != nil {
			b.Fatal(err)
		}
		slices.Sort(f.FirstRestart)
		b.Logf("%d nodes: up %v without services, %v with one each (+%v; the supervisor started them in %v); down %v; first restart after SIGKILL: median %v, max %v of %d; supervisor RSS %.1f MiB, CPU %v",
			n, f.UpWithout.Round(time.Millisecond), f.UpWith.Round(time.Millisecond), (f.UpWith - f.UpWithout).Round(time.Millisecond),
			f.Starting.Round(time.Millisecond), f.Down.Round(time.Millisecond),
			f.FirstRestart[len(f.FirstRestart)/2].Round(10*time.Microsecond), f.FirstRestart[len(f.FirstRestart)-1].Round(10*time.Microsecond),
			len(f.FirstRestart), float64(f.SupervisorRSS)/(1<<20), f.SupervisorCPU)
		b.ReportMetric(f.UpWithout.Seconds(), "s-up-without")
		b.ReportMetric(f.UpWith.Seconds(), "s-up-with")
		b.ReportMetric(float64(f.FirstRestart[len(f.FirstRestart)/2].Microseconds())/1000, "ms-first-restart-median")
		b.ReportMetric(float64(f.SupervisorRSS)/(1<<20), "MiB-supervisor-rss")
		b.ReportMetric(f.SupervisorCPU.Seconds(), "s-supervisor-cpu")
	}
}
