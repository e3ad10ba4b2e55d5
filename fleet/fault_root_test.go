package fleet

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/nslab/nslab/nslabtest"
	"github.com/nslab/nslab/plan"
)

// TestFaultUnreachableHost: a fault command on a lab across machines
// whose host does not answer (ssh refused at once: a closed port of this
// machine) fails naming that host, and records nothing when no host did
// its part; heal keeps the record for the next try.
func TestFaultUnreachableHost(t *testing.T) {
	nslabtest.RequireRoot(t)
	l, pl := parseFaultLab(t)
	name := nslabtest.Name("mhu")
	rec := &Record{Lab: name, Placement: pl, Assigned: l.Assignments(), File: l.File, Source: l.Source, Built: true}
	for _, h := range []string{"h1", "h2"} {
		rec.Hosts = append(rec.Hosts, HostRecord{Name: h, SSH: "ssh://root@127.0.0.1:1", Binary: "/bin/false"})
	}
	if err := writeRecord(rec); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		os.Remove(recordPath(name))
		os.Remove(faultsPath(name))
		os.Remove(recordDir())
	})
	opt := Options{SSHConfig: "/dev/null"}
	err := Cut(context.Background(), name, "a", "eth1", false, opt)
	if err == nil || !strings.Contains(err.Error(), "host h1 (ssh ssh://root@127.0.0.1:1): ssh failed") || !strings.Contains(err.Error(), "host h2 (") {
		t.Errorf("cut a:eth1 with h1 and h2 unreachable: %v, want both named", err)
	}
	t.Logf("cut a:eth1 with h1 and h2 unreachable:\n%v", err)
	err = Partition(context.Background(), name, [][]string{{"a"}, {"b"}}, opt)
	if err == nil || !strings.Contains(err.Error(), "host h1 (") || !strings.Contains(err.Error(), "host h2 (") {
		t.Errorf("partition with h1 and h2 unreachable: %v, want both named", err)
	}
	if f := FaultsOf(name); !f.Empty() {
		t.Errorf("faults recorded that no host made: %+v", f)
	}
	// A record of faults made before stays when heal cannot reach a host.
	if err := writeFaults(name, &plan.Faults{Cuts: []string{"a:eth1"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := Heal(context.Background(), name, opt); err == nil || !strings.Contains(err.Error(), "host h2 (") {
		t.Errorf("heal with h2 unreachable: %v, want it named", err)
	}
	if f := FaultsOf(name); len(f.Cuts) != 1 {
		t.Errorf("heal that failed forgot the faults: %+v", f)
	}
}
