package child

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The helper process: starts `sleep 60` through Start from a goroutine
// whose thread then ends (locked, never unlocked), prints the sleep's pid
// and waits to be killed.
func TestMain(m *testing.M) {
	if os.Getenv("CHILD_TEST_HELPER") == "" {
		os.Exit(m.Run())
	}
	// The main thread never ends (Go wedges it instead): keep the
	// goroutine below off it.
	runtime.LockOSThread()
	pid := make(chan int)
	go func() {
		runtime.LockOSThread() // never unlocked: this thread ends with the goroutine
		cmd := exec.Command("sleep", "60")
		if err := Start(cmd); err != nil {
			fmt.Println("error", err)
			os.Exit(1)
		}
		pid <- cmd.Process.Pid
	}()
	fmt.Println(<-pid)
	time.Sleep(time.Minute)
	os.Exit(0)
}

func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// A zombie has died: its parent has not reaped it yet.
	f := strings.Fields(string(b))
	return len(f) > 2 && f[2] != "Z"
}

// TestDiesWithProcessNotThread: a child outlives the thread of the
// goroutine that asked for it, and dies when the process is killed.
func TestDiesWithProcessNotThread(t *testing.T) {
	helper := exec.Command(os.Args[0], "-test.run=^$")
	helper.Env = append(os.Environ(), "CHILD_TEST_HELPER=1")
	out, err := helper.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := helper.Start(); err != nil {
		t.Fatal(err)
	}
	defer helper.Process.Kill()
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil {
		t.Fatalf("helper said %q", line)
	}
	defer syscall.Kill(pid, syscall.SIGKILL)
	time.Sleep(300 * time.Millisecond) // the asking goroutine's thread has ended by now
	if !alive(pid) {
		t.Fatalf("the child (pid %d) died with the thread of the goroutine that started it", pid)
	}
	helper.Process.Kill()
	helper.Wait()
	deadline := time.Now().Add(5 * time.Second)
	for alive(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("the child (pid %d) lives 5 s after its process was killed", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
