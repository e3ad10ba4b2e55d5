//go:build !linux

package check

import "context"

// Measure is only implemented on Linux; elsewhere every path fails.
func Measure(ctx context.Context, lab string, paths []Path, parallel int) *MeasureReport {
	rep := &MeasureReport{Lab: lab, Tolerance: Tolerance}
	for _, p := range paths {
		rep.Paths = append(rep.Paths, PathResult{Cable: p.Cable, Err: "measuring needs Linux"})
		rep.Failed++
	}
	return rep
}
