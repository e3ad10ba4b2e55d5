package lab_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nslab/nslab/internal/labtest"
	"github.com/nslab/nslab/lab"
	"github.com/nslab/nslab/service"
	"github.com/nslab/nslab/topology"
)

// svcLab parses a lab of nodes without interfaces, named for this branch
// (svc-sup), and gives its nodes the services svcs (as the file's
// services: key would: built in Go here).
func svcLab(t *testing.T, nodes []string, svcs ...*topology.Service) *topology.Lab {
	t.Helper()
	labtest.RequireRoot(t)
	name := labtest.Name("sup")
	labtest.CheckLeaksAtEnd(t, name)
	src := "name: " + name + "\nnodes:\n"
	for _, n := range nodes {
		src += "  " + n + ": {}\n"
	}
	tl, err := topology.Parse(name+".yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range svcs {
		n := tl.Node(s.Node)
		n.Services = append(n.Services, s)
	}
	return tl
}

// sh is a service that runs script with /bin/sh -c.
func sh(node, name, script string) *topology.Service {
	return &topology.Service{Node: node, Name: name, Command: []string{"/bin/sh", "-c", script}, Shell: true,
		Restart: topology.RestartNo, StopGrace: 2 * time.Second}
}

// upSvc builds tl and registers its down (and the leak check, processes
// included).
func upSvc(t *testing.T, tl *topology.Lab, opt lab.Options) error {
	t.Helper()
	t.Cleanup(func() {
		if err := lab.Down(context.Background(), tl.Name, lab.Options{}); err != nil {
			t.Errorf("down: %v", err)
		}
	})
	return lab.Up(context.Background(), tl, tl.Source, opt)
}

// state returns the state of service ref of the lab.
func state(t *testing.T, labName, ref string) service.ServiceState {
	t.Helper()
	st, err := service.Read(labName)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range st.Services {
		if s.Node+"/"+s.Name == ref {
			return s
		}
	}
	t.Fatalf("lab %s has no service %s: %+v", labName, ref, st)
	return service.ServiceState{}
}

// waitFor polls cond every 10 ms for up to d.
func waitFor(d time.Duration, cond func() bool) bool {
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
		if cond() {
			return true
		}
	}
	return cond()
}

func readLog(t *testing.T, labName, node, svc string) string {
	t.Helper()
	b, _ := os.ReadFile(service.LogPath(labName, node, svc))
	return string(b)
}

// TestServiceRunsInItsNode: a service runs in its node's network and UTS
// namespaces (the hostname is the node's), in the node's own directory,
// with NSLAB_* in its environment, its output in its log; down ends it
// and leaves nothing.
func TestServiceRunsInItsNode(t *testing.T) {
	tl := svcLab(t, []string{"a"}, sh("a", "info", `hostname; echo "$NSLAB_LAB $NSLAB_NODE $NSLAB_SERVICE $NSLAB_DIR"; pwd; readlink /proc/self/ns/net; exec sleep infinity`))
	if err := upSvc(t, tl, lab.Options{}); err != nil {
		t.Fatal(err)
	}
	ino := strings.TrimSpace(labtest.IP(t, "netns", "exec", tl.Name+".a", "readlink", "/proc/self/ns/net"))
	dir := service.NodeDir(tl.Name, "a")
	want := fmt.Sprintf("a\n%s a info %s\n%s\n%s\n", tl.Name, dir, dir, ino)
	if !waitFor(2*time.Second, func() bool { return readLog(t, tl.Name, "a", "info") == want }) {
		t.Errorf("the service's log:\n%s\nwant\n%s", readLog(t, tl.Name, "a", "info"), want)
	}
	s := state(t, tl.Name, "a/info")
	if s.State != service.Running || !s.Ready || s.PID == 0 {
		t.Errorf("state %+v, want running and ready with a pid", s)
	}
	if err := lab.Down(context.Background(), tl.Name, lab.Options{}); err != nil {
		t.Fatal(err)
	}
	if err := exec.Command("kill", "-0", strconv.Itoa(s.PID)).Run(); err == nil {
		t.Errorf("pid %d still runs after down", s.PID)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the node's directory %s is still there after down (%v)", dir, err)
	}
}

var _ = slices.Contains[[]string]
var _ = filepath.Join
