// Package labtest forwards to nslabtest, where the helpers of nslab's own
// root tests (unique names, subnets, leak checks, ip) now live, so that
// the tests written against it keep compiling. New tests use nslabtest.
package labtest

import (
	"testing"

	"github.com/google/nftables"

	"github.com/nslab/nslab/nslabtest"
)

// RequireRoot is nslabtest.RequireRoot.
func RequireRoot(t testing.TB) { t.Helper(); nslabtest.RequireRoot(t) }

// Name is nslabtest.Name.
func Name(prefix string) string { return nslabtest.Name(prefix) }

// IP is nslabtest.IP.
func IP(t testing.TB, args ...string) string { t.Helper(); return nslabtest.IP(t, args...) }

// Leftovers is nslabtest.Leftovers.
func Leftovers(lab string) []string { return nslabtest.Leftovers(lab) }

// CheckLeaks is nslabtest.CheckLeaks.
func CheckLeaks(t testing.TB, lab string, held ...string) {
	t.Helper()
	nslabtest.CheckLeaks(t, lab, held...)
}

// CheckLeaksAtEnd is nslabtest.CheckLeaksAtEnd.
func CheckLeaksAtEnd(t testing.TB, lab string) { t.Helper(); nslabtest.CheckLeaksAtEnd(t, lab) }

// TestTablePrefix is nslabtest.TestTablePrefix.
const TestTablePrefix = nslabtest.TestTablePrefix

// TestTable is nslabtest.TestTable.
func TestTable(lab string) string { return nslabtest.TestTable(lab) }

// NftTable is nslabtest.NftTable.
func NftTable(t testing.TB, table *nftables.Table) { t.Helper(); nslabtest.NftTable(t, table) }

// Subnet is nslabtest.Subnet.
func Subnet(t testing.TB) string { t.Helper(); return nslabtest.Subnet(t) }

// Netns is nslabtest.Netns.
func Netns(t testing.TB, name string) { t.Helper(); nslabtest.Netns(t, name) }

// HoldNetnsDir is nslabtest.HoldNetnsDir.
func HoldNetnsDir(t testing.TB) { t.Helper(); nslabtest.HoldNetnsDir(t) }

// EtcNetns is nslabtest.EtcNetns.
func EtcNetns(t testing.TB, ns string) string { t.Helper(); return nslabtest.EtcNetns(t, ns) }

// Kernel is nslabtest.Kernel.
func Kernel(t testing.TB) string { t.Helper(); return nslabtest.Kernel(t) }
