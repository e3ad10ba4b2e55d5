//go:build race

package topology

// The race detector slows parsing down about tenfold.
func init() { timeScale = 10 }
