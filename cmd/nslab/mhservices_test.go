package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nslab/nslab/nslabtest"
)

// TestLabAcrossHostsServices: a node on h2 runs a service, supervised on
// h2 (status from here shows it under h2; killed, it runs again), whose
// log nslab logs shows from the machine that ran up; its published port
// opens on h2's underlay address (reached from h1); its bridge's NAT,
// on h2, masquerades what it sends to h1 (which plays the outside world)
// behind h2's address.
func TestLabAcrossHostsServices(t *testing.T) {
	c := startHosts(t, "h1", "h2")
	h1, h2 := c.Host("h1"), c.Host("h2")
	// h2 forwards what comes in on its own interface, as a machine that
	// NATs for others does (its setting, which nslab leaves alone): the
	// replies to the masqueraded connections and the published port's
	// connections come in there.
	if out, err := inHost(h2, "echo 1 > /proc/sys/net/ipv4/conf/eth0/forwarding"); err != nil {
		t.Fatalf("h2: %v\n%s", err, out)
	}
	name := nslabtest.Name("ms")
	file := filepath.Join(t.TempDir(), name+".yaml")
	src := fmt.Sprintf(`name: %[1]s
hosts:
  h1: {ssh: h1, address: %[2]s}
  h2: {ssh: h2, address: %[3]s}
bridges:
  lan: {addresses: [10.84.0.1/24], nat: true}
nodes:
  w:
    host: h2
    interfaces: {eth0: {link: lan, addresses: [10.84.0.2/24]}}
    routes: [{to: default, via: 10.84.0.1}]
    publish: ["%[3]s:18080:80"]
    services:
      web:
        command: [sh, -c, 'echo started on $(hostname); while true; do echo hello from $(hostname) | busybox nc -l -p 80; done']
        restart: always
  v: {host: h1, interfaces: {eth0: {link: lan, addresses: [10.84.0.3/24]}}}
`, name, h1.Addr, h2.Addr)
	if err := os.WriteFile(file, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if r := fleetRun(t, c, "down", "-q", name); r.code != 0 {
			os.Remove(filepath.Join("/run/nslab/.fleet", name+".json"))
		}
	})
	if r := fleetRun(t, c, "up", file); r.code != 0 {
		t.Fatalf("up: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	// Supervised on h2: status from here shows it running there.
	r := fleetRun(t, c, "status", name)
	if i := strings.Index(r.stdout, "host h2 "); r.code != 0 || i < 0 || !strings.Contains(r.stdout[i:], "web") || !strings.Contains(r.stdout[i:], "running") {
		t.Errorf("status: exit %d, want service web running under h2\n%s%s", r.code, r.stdout, r.stderr)
	}
	// Its log, from here.
	var logs result
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if logs = fleetRun(t, c, "logs", name+".w/web"); strings.Contains(logs.stdout, "started on w") {
			break
		}
	}
	if logs.code != 0 || !strings.Contains(logs.stdout, "started on w") {
		t.Errorf("logs %s.w/web from the machine that ran up: exit %d, want its line\n%s%s", name, logs.code, logs.stdout, logs.stderr)
	}
	// Published on h2's address: h1 reaches it.
	get := func() (string, error) {
		return inHost(h1, fmt.Sprintf("busybox nc -w 3 %s 18080 </dev/null", h2.Addr))
	}
	var out string
	var err error
	for try := 0; try < 5; try++ {
		if out, err = get(); err == nil && strings.Contains(out, "hello from w") {
			break
		}
		time.Sleep(300 * time.Millisecond)
	}
	if !strings.Contains(out, "hello from w") {
		diag, _ := inHost(h2, "ip -br addr; ip route; cat /proc/sys/net/ipv4/ip_forward /proc/sys/net/ipv4/conf/*/forwarding | tr '\\n' ' '; command -v nft >/dev/null && nft list ruleset")
		t.Errorf("h1 -> %s:18080 (published by w on h2): %v, %q\nh2:\n%s", h2.Addr, err, out, diag)
	}
	// NAT on h2: w reaches h1's address, seen from h2's.
	seen := make(chan string, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	listen := exec.CommandContext(ctx, "nsenter", "-t", fmt.Sprint(h1.Pid), "-n", "-m", "python3", "-c",
		"import socket\ns=socket.socket()\ns.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\ns.bind(('"+h1.Addr.String()+"', 19090))\ns.listen()\nprint('ready', flush=True)\nc,a=s.accept()\nprint(a[0], flush=True)")
	stdout, _ := listen.StdoutPipe()
	if err := listen.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		buf := make([]byte, 256)
		var got string
		for {
			n, err := stdout.Read(buf)
			got += string(buf[:n])
			if strings.Count(got, "\n") >= 2 || err != nil {
				seen <- got
				return
			}
		}
	}()
	time.Sleep(500 * time.Millisecond)
	if r := fleetRun(t, c, "exec", name+".w", "--", "busybox", "nc", "-w", "3", h1.Addr.String(), "19090"); r.code != 0 {
		t.Errorf("w (on h2) -> %s:19090 through lan's NAT: exit %d\n%s%s", h1.Addr, r.code, r.stdout, r.stderr)
	}
	select {
	case got := <-seen:
		if !strings.Contains(got, "\n"+h2.Addr.String()+"\n") {
			t.Errorf("h1 saw w's connection from %q, want h2's address %s (masqueraded on h2)", got, h2.Addr)
		}
	case <-ctx.Done():
		t.Errorf("h1 saw no connection from w")
	}
	listen.Wait()
	// Killed on h2, the service runs again there.
	web := func() (pid, restarts int) {
		o, err := onHost(t, c, "h2", bin+" ps -o json "+name)
		var rows []struct {
			Service *struct {
				Name     string `json:"name"`
				PID      int    `json:"pid"`
				Restarts int    `json:"restarts"`
			} `json:"service"`
		}
		if jerr := json.Unmarshal([]byte(o), &rows); err != nil || jerr != nil {
			t.Fatalf("nslab ps on h2: %v %v\n%s", err, jerr, o)
		}
		for _, r := range rows {
			if r.Service != nil && r.Service.Name == "web" {
				return r.Service.PID, r.Service.Restarts
			}
		}
		return 0, -1
	}
	pid, _ := web()
	if pid == 0 {
		t.Fatalf("no process of service web on h2")
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	again, restarts := 0, 0
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(300 * time.Millisecond) {
		if again, restarts = web(); again != 0 && again != pid {
			break
		}
	}
	if again == 0 || again == pid || restarts < 1 {
		t.Errorf("service web killed on h2 (pid %d): now pid %d, %d restarts; want it run again there", pid, again, restarts)
	}
	if r := fleetRun(t, c, "down", name); r.code != 0 {
		t.Fatalf("down: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	for _, h := range c.Hosts {
		if left := leftOn(h); left != "" {
			t.Errorf("%s after down: left\n%s", h.Name, left)
		}
	}
}
