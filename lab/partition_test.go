package lab_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/nslab/nslab/lab"
	"github.com/nslab/nslab/nslabtest"
)

// TestPartition splits three nodes of one bridge into {n1} and {n2, n3}:
// n1 and n2 no longer reach each other either way, in both families,
// while n2 and n3 do, and so does everyone the host; healed, all pairs
// answer again.
func TestPartition(t *testing.T) {
	sub := nslabtest.Subnet(t)
	v6 := "fd10:" + strings.ReplaceAll(strings.TrimPrefix(sub, "10."), ".", ":")
	tl := up(t, strings.NewReplacer("SUB", sub, "V6", v6).Replace(`
bridges:
  br0: {addresses: [SUB.1/24, "V6::1/64"]}
nodes:
  n1: {interfaces: {eth0: {link: br0, addresses: [SUB.11/24, "V6::11/64"]}}}
  n2: {interfaces: {eth0: {link: br0, addresses: [SUB.12/24, "V6::12/64"]}}}
  n3: {interfaces: {eth0: {link: br0, addresses: [SUB.13/24, "V6::13/64"]}}}
`))
	part := func(groups ...[]string) {
		t.Helper()
		if err := lab.Partition(context.Background(), tl.Name, groups, lab.Options{}); err != nil {
			if strings.Contains(err.Error(), "needs nf_tables") {
				t.Skipf("this kernel has no nf_tables: %v", err)
			}
			t.Fatal(err)
		}
	}
	open := startStream(t, tl, "n2", "n1", sub+".11")
	defer open.stop()
	if n := open.received(200 * time.Millisecond); n == 0 {
		t.Fatal("the stream n2 -> n1 carries nothing before the partition")
	}
	part([]string{"n1"}, []string{"n2", "n3"})
	open.received(200 * time.Millisecond) // what was on its way
	if n := open.received(500 * time.Millisecond); n != 0 {
		t.Errorf("the stream n2 -> n1 opened before the partition still carries %d bytes in 500ms", n)
	}
	expectPing(t, tl, "partitioned", "n1", false, sub+".12", v6+"::12", sub+".13")
	expectPing(t, tl, "partitioned", "n2", false, sub+".11", v6+"::11")
	expectPing(t, tl, "partitioned", "n2", true, sub+".13", v6+"::13", sub+".1")
	expectPing(t, tl, "partitioned", "n1", true, sub+".1", v6+"::1")

	part() // healed
	expectPing(t, tl, "healed", "n1", true, sub+".12", v6+"::12", sub+".13")
	expectPing(t, tl, "healed", "n2", true, sub+".11", v6+"::11")

	for _, bad := range [][][]string{{{"n1"}}, {{"n1"}, {"n9"}}, {{"n1", "n2"}, {"n2"}}} {
		if err := lab.Partition(context.Background(), tl.Name, bad, lab.Options{}); err == nil {
			t.Errorf("partition %v: no error", bad)
		}
	}
}
