package kernel

import (
	"sync/atomic"

	"github.com/google/nftables"
)

// setIDs numbers the sets nslab adds. google/nftables numbers a set
// without one from a global counter that it increments under the lock of
// one connection only, so two connections adding sets at once (a
// partition applied to several nodes by the worker pool) race on it
// (go test -race, TestWebAcrossAPartition). A set's ID only needs to be
// unique within its batch.
var setIDs atomic.Uint32

// numbered gives s an ID of nslab's (and an anonymous set the name
// template the library would give it), so that AddSet leaves the
// library's counter alone.
func numbered(s *nftables.Set) *nftables.Set {
	if s.ID == 0 {
		s.ID = setIDs.Add(1)
		if s.ID == 0 { // wrapped around
			s.ID = setIDs.Add(1)
		}
		if s.Anonymous {
			s.Name = "__set%d"
			if s.IsMap {
				s.Name = "__map%d"
			}
		}
	}
	return s
}
