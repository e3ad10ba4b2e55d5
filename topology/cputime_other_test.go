//go:build !unix

package topology

import "time"

var start0 = time.Now()

// cpuTime falls back to the wall clock where getrusage is missing.
func cpuTime() time.Duration { return time.Since(start0) }
