//go:build !unix

package topology

import (
	"context"
	"os"
	"time"
)

func openNonblock(path string) (*os.File, error) { return os.Open(path) }

func readStream(_ context.Context, f *os.File, path string, _, _ time.Duration) ([]byte, error) {
	return readAll(path, f)
}
