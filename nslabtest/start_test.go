package nslabtest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/nftables"

	"github.com/nslab/nslab"
	"github.com/nslab/nslab/lab"
	"github.com/nslab/nslab/topology"
)

func star(t testing.TB, name string, nodes int) *topology.Lab {
	t.Helper()
	b := topology.NewBuilder(name)
	b.Bridge("sw").Subnets("10.3.0.0/24", "fd03::/64")
	for i := range nodes {
		b.Node(fmt.Sprintf("n%d", i+1)).Interface("eth0", "sw")
	}
	topo, err := b.Lab()
	if err != nil {
		t.Fatal(err)
	}
	return topo
}

// TestChildLeavesALab is run by TestDeadOwnersLabIsRemoved in a child
// process: it starts a lab, says its name and dies as NSLABTEST_DIE says,
// without its cleanups.
func TestChildLeavesALab(t *testing.T) {
	how := os.Getenv("NSLABTEST_DIE")
	if how == "" {
		t.Skip("run by TestDeadOwnersLabIsRemoved")
	}
	if how == "name" || how == "netns" {
		// A lab named with Name and nothing else, as kernel tests and
		// many cmd tests have theirs; the parent kills this process.
		name := Name("lh-name")
		if how == "name" {
			topo := star(t, name, 2)
			topo.Name = name
			t.Cleanup(func() { lab.Down(context.Background(), name, lab.Options{}) }) // should the parent not kill it
			if err := lab.Up(context.Background(), topo, topo.Source, lab.Options{}); err != nil {
				t.Fatal(err)
			}
		} else {
			// As kernel tests do: namespaces of the lab's name that
			// nslab did not make, and a table of the test's own.
			HoldNetnsDir(t)
			Netns(t, name+".a")
			NftTable(t, &nftables.Table{Name: TestTable(name), Family: nftables.TableFamilyINet})
		}
		sayName(name)
		time.Sleep(time.Minute)
		return
	}
	if how == "killup" {
		// A lab of the lab package's own, not Start's: owned through
		// CheckLeaksAtEnd, as the tests of packages lab and cmd/nslab own
		// theirs.
		name := Name("lh-own")
		CheckLeaksAtEnd(t, name)
		topo := star(t, name, 2)
		topo.Name = name
		if err := lab.Up(context.Background(), topo, topo.Source, lab.Options{}); err != nil {
			t.Fatal(err)
		}
		sayName(name)
		syscall.Kill(os.Getpid(), syscall.SIGKILL)
	}
	l := Start(t, star(t, "lh-dead", 2))
	if err := l.Node("n1").Command(context.Background(), "sleep", "600").Start(); err != nil {
		t.Fatal(err)
	}
	sayName(l.Name())
	switch how {
	case "kill":
		syscall.Kill(os.Getpid(), syscall.SIGKILL)
	case "panic":
		go panic("a goroutine of the test panics")
	case "testpanic":
		panic("the test panics half-way")
	}
	time.Sleep(time.Minute)
}

// sayName tells the parent test the lab's name and waits for it to hold
// the lab's record (holdRecord), so that no other test process reaps
// the lab before the parent has seen what this one leaves.
func sayName(name string) {
	fmt.Printf("lab %s\n", name)
	os.Stdout.Sync()
	bufio.NewReader(os.Stdin).ReadString('\n')
}

// TestChildNamesALab is run by TestDeadOwnersLabIsRemoved in a child
// process, after one it killed: it names a lab.
func TestChildNamesALab(t *testing.T) {
	if os.Getenv("NSLABTEST_NAME") == "" {
		t.Skip("run by TestDeadOwnersLabIsRemoved")
	}
	name := Name("lh-next")
	Own(t, name) // its record goes with the test
	t.Log(name)
}

// TestDeadOwnersLabIsRemoved: a lab whose test process was killed (kill
// -9, a panic in another goroutine) stays, recorded as that process's,
// until the next test process's Start removes it, process included. A
// test that panics in its own goroutine removes its lab as it dies. A
// lab only named with Name (name), or namespaces and a table named after
// it that nslab did not make (netns), whose test process is killed by
// its pid with SIGKILL, are removed by the next test process's Name.
func TestDeadOwnersLabIsRemoved(t *testing.T) {
	RequireRoot(t)
	for _, how := range []string{"kill", "panic", "testpanic", "killup", "name", "netns"} {
		t.Run(how, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestChildLeavesALab$", "-test.count=1")
			cmd.Env = append(os.Environ(), "NSLABTEST_DIE="+how)
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			in, err := cmd.StdinPipe()
			if err != nil {
				t.Fatal(err)
			}
			var stderr strings.Builder
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			var name string
			s := bufio.NewScanner(out)
			for s.Scan() {
				if n, ok := strings.CutPrefix(s.Text(), "lab "); ok {
					name = n
					break
				}
			}
			if name == "" {
				err := cmd.Wait()
				t.Fatalf("the child said no lab name: %v\n%s", err, stderr.String())
			}
			// Other test processes on the machine reap too: keep the
			// lab from them until this test reaps it.
			hold, err := holdRecord(name)
			if err != nil {
				cmd.Process.Kill()
				t.Fatalf("%v (%v)", err, cmd.Wait())
			}
			defer hold.Close()
			in.Write([]byte("go\n"))
			if how == "name" || how == "netns" {
				cmd.Process.Kill() // SIGKILL, by its pid, mid-way
			}
			werr := cmd.Wait()
			// Not CheckLeaksAtEnd: it would make the lab this process's.
			t.Cleanup(func() { CheckLeaks(t, name) })
			t.Cleanup(func() { os.Remove(recordPath(name)); os.Remove(recordDir) })
			if how == "testpanic" {
				// The test's own goroutine panicked: its cleanups ran.
				if left := Leftovers(name); len(left) > 0 {
					t.Errorf("a test that panicked left %v", left)
				}
				if slicesContains(deadLabs(), name) {
					t.Errorf("a test that panicked left its record")
				}
				return
			}
			if left := Leftovers(name); len(left) == 0 {
				t.Fatalf("the child (%v) left nothing: it did not die before its cleanups", werr)
			}
			spaces := namespaceInodes(name)
			if procs := processesIn(spaces); (how == "kill" || how == "panic") && len(procs) != 1 {
				t.Errorf("processes in the dead child's lab: %v, want its sleep", procs)
			}
			if !slicesContains(deadLabs(), name) {
				t.Fatalf("lab %s is not found dead (records: %v)", name, deadLabs())
			}
			if f := lockDead(name); f != nil {
				f.Close()
				t.Fatal("a reap could lock the record that this test holds")
			}
			hold.Close()
			if how == "name" || how == "netns" {
				// Another test process: its first Name removes the lab
				// (unless one of another test run got there first).
				next := exec.Command(os.Args[0], "-test.run=^TestChildNamesALab$", "-test.count=1", "-test.v")
				next.Env = append(os.Environ(), "NSLABTEST_NAME=1")
				out, err := next.CombinedOutput()
				switch {
				case err == nil && strings.Contains(string(out), "removed lab "+name+", left by a test process that died"):
				case err == nil && reapedElsewhere(t, name):
				default:
					t.Errorf("the next test process (%v) did not say it removed %s:\n%s", err, name, out)
				}
			} else {
				reapDead(t.Logf)
				if _, err := os.Stat(recordPath(name)); err == nil {
					reapedElsewhere(t, name)
				}
			}
			if left := Leftovers(name); len(left) > 0 {
				t.Errorf("after the reap: %v", left)
			}
			if procs := processesIn(spaces); len(procs) > 0 {
				t.Errorf("after the reap: %v", procs)
			}
			if _, err := os.Stat(recordPath(name)); err == nil {
				t.Error("the record stays")
			}
		})
	}
}

// reapedElsewhere waits, when lab name's record stays, for another test
// process that reaps it (holding the record: lockDead) to end; it
// reports whether that was so.
func reapedElsewhere(t *testing.T, name string) bool {
	t.Helper()
	for range 600 {
		if _, err := os.Stat(recordPath(name)); err != nil {
			t.Logf("another test process removed %s first", name)
			return true
		}
		if f := lockDead(name); f != nil {
			f.Close()
			return false // nobody reaps it
		}
		time.Sleep(100 * time.Millisecond)
	}
	return false
}

func slicesContains(s []string, x string) bool {
	for _, v := range s {
		if v == x {
			return true
		}
	}
	return false
}

// TestLiveOwnerIsKept: a record of a live process is not dead, nor one
// of a pid alone that lives; one whose pid lives with another start time
// (a pid given again) is.
func TestLiveOwnerIsKept(t *testing.T) {
	me := self()
	if !me.alive() || me.start == 0 {
		t.Fatalf("self %v is not alive", me)
	}
	if o, ok := parseOwner(fmt.Sprint(me.pid)); !ok || !o.alive() {
		t.Errorf("a record of this pid alone: %v %v", o, ok)
	}
	if (owner{me.pid, me.start + 1}).alive() {
		t.Error("this pid with another start time is alive")
	}
	if o, ok := parseOwner(me.String()); !ok || o != me {
		t.Errorf("parse %q: %v", me.String(), o)
	}
}

// TestStartCancelled: Start cancelled at any point of a build returns
// the context's error and leaves nothing, or has built the lab.
func TestStartCancelled(t *testing.T) {
	RequireRoot(t)
	topo := star(t, "lh-cancel", 20)
	for _, after := range []time.Duration{0, time.Millisecond, 3 * time.Millisecond, 10 * time.Millisecond, 30 * time.Millisecond, 100 * time.Millisecond} {
		t.Run(after.String(), func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			time.AfterFunc(after, cancel)
			l, err := StartContext(ctx, t, topo, nslab.Options{})
			if err == nil {
				t.Logf("built before the cancel at %v", after)
				return
			}
			if !errors.Is(err, context.Canceled) {
				t.Errorf("cancelled after %v: %v, want context.Canceled", after, err)
			}
			// What the failed start left, before the test's cleanup
			// removes it.
			entries, _ := os.ReadDir(recordDir)
			n := 0
			for _, e := range entries {
				if strings.HasPrefix(e.Name(), labPrefix(topo.Name)+fmt.Sprint(os.Getpid()%100000)+"-") {
					n++
					if left := Leftovers(e.Name()); len(left) > 0 {
						t.Errorf("cancelled after %v, %s left: %v", after, e.Name(), left)
					}
				}
			}
			if n == 0 {
				t.Error("no record of the lab")
			}
			_ = l
		})
	}
}

// TestSubnets: each call reserves another /24, its IPv6 subnet follows
// it, and the reservation is a file of this process's until the test
// ends.
func TestSubnets(t *testing.T) {
	RequireRoot(t)
	var v4s []string
	t.Run("reserve", func(t *testing.T) {
		a4, a6 := Subnets(t)
		b4, _ := Subnets(t)
		if a4 == b4 || a4.Bits() != 24 || a6.Bits() != 64 {
			t.Errorf("subnets %v %v %v", a4, a6, b4)
		}
		o := strings.Split(a4.Addr().String(), ".")
		if want := "fd10:200:" + o[2] + "::/64"; a6.String() != want {
			t.Errorf("IPv6 subnet %v, want %s", a6, want)
		}
		for _, p := range []string{a4.String(), b4.String()} {
			s := strings.TrimSuffix(p, ".0/24")
			v4s = append(v4s, s)
			data, err := os.ReadFile(subnetDir + "/" + s)
			if o, ok := parseOwner(string(data)); err != nil || !ok || o != self() {
				t.Errorf("reservation of %s: %q %v", s, data, err)
			}
		}
	})
	for _, s := range v4s {
		if _, err := os.Stat(subnetDir + "/" + s); err == nil {
			t.Errorf("the reservation of %s stays after the test", s)
		}
	}
}
