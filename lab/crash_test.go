package lab_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/nslab/nslab/check"
	"github.com/nslab/nslab/lab"
	"github.com/nslab/nslab/nslabtest"
	"github.com/nslab/nslab/plan"
)

// killedPartWay makes a running seed lab look as an nslab killed while
// building it leaves it: the port of ns2 and the bridge without their
// alias (killed between the creating message and the marking one; the
// port without its altname too), ns1's /run/netns entry unmounted but
// not removed (killed inside a namespace deletion), an empty entry for a
// node being created (killed before the bind mount), and the building
// marker. Next to it are foreign objects with names and a group close to
// the lab's, which must survive. It returns them as nslabtest.Leftovers
// lists them.
func killedPartWay(t *testing.T) (name string, foreign []string) {
	t.Helper()
	tl := up(t, seed(t))
	name = tl.Name
	port := plan.PortName(name, "ns2", "eth0")
	bridge := plan.BridgeName(name, "br-ns")
	nslabtest.IP(t, "link", "set", "dev", port, "alias", "")
	nslabtest.IP(t, "link", "property", "del", "dev", port, "altname", plan.PortAltName(name, "ns2", "eth0"))
	nslabtest.IP(t, "link", "set", "dev", bridge, "alias", "")
	if out, err := exec.Command("umount", "/run/netns/"+name+".ns1").CombinedOutput(); err != nil {
		t.Fatalf("umount: %v\n%s", err, out)
	}
	for _, f := range []string{"/run/netns/" + name + ".ns3", lab.StateDir + "/" + name + "/building"} {
		if err := os.WriteFile(f, nil, 0o444); err != nil {
			t.Fatal(err)
		}
	}

	// Foreign: a namespace of ip netns add with the lab's prefix, a veth
	// in the lab's link group under a name the topology does not give.
	ns := name + ".ns9"
	veth := fmt.Sprintf("nf%d", os.Getpid()%1000000)
	nslabtest.Netns(t, ns)
	nslabtest.IP(t, "link", "add", veth, "group", fmt.Sprint(plan.Group(name)), "type", "veth", "peer", "name", veth+"p")
	t.Cleanup(func() {
		exec.Command("ip", "link", "delete", veth).Run()
	})
	return name, []string{"namespace " + ns, "mount /run/netns/" + ns, "link " + veth + "@" + veth + "p:"}
}

// TestDownAfterKill: down removes what a killed build left, and nothing
// else.
func TestDownAfterKill(t *testing.T) {
	name, foreign := killedPartWay(t)
	if err := lab.Down(context.Background(), name, lab.Options{}); err != nil {
		t.Fatal(err)
	}
	left := nslabtest.Leftovers(name)
	slices.Sort(left)
	slices.Sort(foreign)
	if !slices.Equal(left, foreign) {
		t.Errorf("after down, left: %s\nwant only the foreign objects: %s", strings.Join(left, "; "), strings.Join(foreign, "; "))
	}
}

// TestUpAfterKill: up finishes a lab that a killed build left: it
// removes it, foreign objects aside, and builds it anew.
func TestUpAfterKill(t *testing.T) {
	name, _ := killedPartWay(t)
	tl, err := lab.Topology(name)
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile(lab.StateDir + "/" + name + "/topology.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := lab.Up(context.Background(), tl, src, lab.Options{}); err != nil {
		t.Fatalf("up after a kill: %v", err)
	}
	if _, err := os.Stat(lab.StateDir + "/" + name + "/building"); err == nil {
		t.Error("the building marker stayed")
	}
	if _, err := os.Stat("/run/netns/" + name + ".ns3"); err == nil {
		t.Error("the stale entry of ns3 stayed")
	}
	rep, err := lab.Check(context.Background(), tl, check.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Failed > 0 || rep.Passed == 0 {
		var b strings.Builder
		rep.WriteMatrix(&b)
		t.Errorf("check: %d failed, %d passed\n%s", rep.Failed, rep.Passed, b.String())
	}
}
