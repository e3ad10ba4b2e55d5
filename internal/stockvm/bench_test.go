package stockvm

import (
	"context"
	"os"
	"testing"
	"time"
)

// BenchmarkBoot boots the stock kernel and runs /bin/true in the guest:
// the cost of one VM per test binary. It reports the time to the binary's
// start (boot-s) and in all (total-s).
//
//	sudo go test -run '^$' -bench Boot -benchtime 2x ./internal/stockvm
func BenchmarkBoot(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("needs root")
	}
	s, err := Find()
	if err != nil {
		b.Skip(err)
	}
	var boot, total time.Duration
	for b.Loop() {
		res, err := s.Run(context.Background(), Job{Binary: "/bin/true", Dir: "/"})
		if err != nil || res.Exit != 0 {
			b.Fatalf("exit %d: %v", res.Exit, err)
		}
		boot += res.Boot
		total += res.Total
		b.Logf("kernel %s under %s: up in %v, %v in all", res.Kernel, res.Accel, res.Boot.Round(time.Millisecond), res.Total.Round(time.Millisecond))
	}
	b.ReportMetric(boot.Seconds()/float64(b.N), "boot-s")
	b.ReportMetric(total.Seconds()/float64(b.N), "total-s")
}
