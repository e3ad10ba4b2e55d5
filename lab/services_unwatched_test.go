package lab_test

import (
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/nslab/nslab/lab"
	"github.com/nslab/nslab/service"
)

// TestServiceEndedWhileUnwatched: a service that ends while its
// supervisor is dead (killed -9) is not shown running with its old pid
// (ps and status read service.Read): it is exited, with no pid, its exit
// unknown, and the state says no supervisor watches the lab; one still
// running keeps its pid. (It was shown "running, ready" with the pid of
// a process that was gone.)
func TestServiceEndedWhileUnwatched(t *testing.T) {
	a, b := sh("a", "one", "exec sleep infinity"), sh("a", "two", "exec sleep infinity")
	tl := svcLab(t, []string{"a"}, a, b)
	if err := upSvc(t, tl, lab.Options{}); err != nil {
		t.Fatal(err)
	}
	if st, _ := service.Read(tl.Name); st.Unwatched() {
		t.Errorf("a lab with its supervisor running counts as unwatched: %+v", st)
	}
	p1, p2 := state(t, tl.Name, "a/one").PID, state(t, tl.Name, "a/two").PID
	killSupervisor(t, tl.Name)
	if err := exec.Command("kill", "-9", strconv.Itoa(p1)).Run(); err != nil {
		t.Fatal(err)
	}
	if !waitFor(2*time.Second, func() bool { return !alive(p1) }) {
		t.Fatalf("a/one (%d) still runs after SIGKILL", p1)
	}
	if s := state(t, tl.Name, "a/one"); s.State != service.Exited || s.PID != 0 || s.Ready || s.Exit != service.GoneExit {
		t.Errorf("a/one, killed while no supervisor ran: %+v; want exited, no pid, not ready, exit %q", s, service.GoneExit)
	}
	if s := state(t, tl.Name, "a/two"); s.State != service.Running || s.PID != p2 {
		t.Errorf("a/two, still running: %+v; want running as pid %d", s, p2)
	}
	if st, _ := service.Read(tl.Name); !st.Unwatched() {
		t.Errorf("a lab whose supervisor was killed does not count as unwatched: %+v", st)
	}
}
