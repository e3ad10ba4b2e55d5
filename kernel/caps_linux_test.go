package kernel

import (
	"slices"
	"testing"

	"golang.org/x/sys/unix"
)

func TestMissingCaps(t *testing.T) {
	for _, c := range []struct {
		eff  uint64
		want []string
	}{
		{0, []string{"CAP_NET_ADMIN", "CAP_SYS_ADMIN", "CAP_DAC_OVERRIDE"}},
		{1 << unix.CAP_NET_ADMIN, []string{"CAP_SYS_ADMIN", "CAP_DAC_OVERRIDE"}},
		{1<<unix.CAP_NET_ADMIN | 1<<unix.CAP_SYS_ADMIN, []string{"CAP_DAC_OVERRIDE"}}, // state and locks are root's
		{1<<unix.CAP_NET_ADMIN | 1<<unix.CAP_SYS_ADMIN | 1<<unix.CAP_DAC_OVERRIDE, nil},
		{1<<41 - 1, nil}, // root's full set
	} {
		if got := MissingCaps(c.eff); !slices.Equal(got, c.want) {
			t.Errorf("MissingCaps(%#x) = %v, want %v", c.eff, got, c.want)
		}
	}
}
