package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/nslab/nslab/internal/child"
	"github.com/nslab/nslab/internal/simhost"
)

// fleetDir is where nslab keeps the records of labs across machines
// brought up from this machine.
const fleetDir = "/run/nslab/.fleet"

func runCmd(args []string) int {
	fs := flag.NewFlagSet("simhosts run", flag.ContinueOnError)
	n := fs.Int("n", 3, "number of hosts (h1, h2, ...)")
	subnet := fs.String("subnet", "10.231.0.0/24", "the underlay's IPv4 /24: this machine takes .1, the hosts .2, .3, ...")
	prefix := fs.String("prefix", "simh", "names of the underlay's links on this machine (PREFIX-br, PREFIX-h1, ...), 1 to 7 bytes")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	sub, err := netip.ParsePrefix(*subnet)
	if err != nil {
		fmt.Fprintf(os.Stderr, "simhosts: -subnet: %v\n", err)
		return 2
	}
	if *n < 1 || *n > 250 {
		fmt.Fprintf(os.Stderr, "simhosts: -n %d: from 1 to 250 hosts\n", *n)
		return 2
	}
	argv := fs.Args()
	interactive := len(argv) == 0
	if interactive {
		sh := os.Getenv("SHELL")
		if sh == "" {
			sh = "/bin/sh"
		}
		argv = []string{sh, "-i"}
	}
	if err := simhost.Available(); err != nil {
		fmt.Fprintf(os.Stderr, "simhosts: %v\n", err)
		return 1
	}
	var names []string
	for i := 1; i <= *n; i++ {
		names = append(names, fmt.Sprintf("h%d", i))
	}
	dir, err := os.MkdirTemp("", "simhosts-")
	if err != nil {
		fmt.Fprintf(os.Stderr, "simhosts: %v\n", err)
		return 1
	}
	began := time.Now()
	// Signals while the hosts start stop the start; Start removes what it
	// made.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	logf := func(format string, a ...any) { fmt.Fprintf(os.Stderr, "simhosts: "+format+"\n", a...) }
	logf("starting %d simulated host(s) (sshd in a network and mount namespace each) ...", *n)
	c, err := simhost.Start(ctx, dir, names, simhost.Options{Prefix: *prefix, Subnet: sub, RemoveDir: true, Logf: logf})
	stop()
	if err != nil {
		os.RemoveAll(dir)
		fmt.Fprintf(os.Stderr, "simhosts: %v\n", err)
		return 1
	}
	fmt.Print(banner(c, time.Since(began)))

	code := runChild(c, argv, interactive)
	if err := teardown(c, began); err != nil {
		fmt.Fprintf(os.Stderr, "simhosts: %v\n", err)
		if code == 0 {
			code = 1
		}
	}
	return code
}

// banner says what was started and how to use it.
func banner(c *simhost.Cluster, took time.Duration) string {
	var b strings.Builder
	hosts := "hosts"
	if len(c.Hosts) == 1 {
		hosts = "host"
	}
	fmt.Fprintf(&b, "simhosts: %d simulated %s up in %.1f s on bridge %s (this machine: %s)\n",
		len(c.Hosts), hosts, took.Seconds(), c.Bridge, c.Addr)
	b.WriteString("hosts:\n")
	for _, h := range c.Hosts {
		fmt.Fprintf(&b, "  %s: {ssh: %s, address: %s}\n", h.Name, h.Name, h.Addr)
	}
	fmt.Fprintf(&b, "NSLAB_SSH_CONFIG=%s   # set for the command; ssh -F it to reach a host (ssh -F %[1]s h1)\n", c.Config)
	return b.String()
}

// runChild runs argv with the cluster's ssh_config in its environment
// and returns its exit status. SIGTERM and SIGHUP end it (SIGTERM, then
// SIGKILL 5 s later); Ctrl-C reaches it from the terminal, and goes to a
// command (not the interactive shell, which ignores it) when sent to
// simhosts alone.
func runChild(c *simhost.Cluster, argv []string, interactive bool) int {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), "NSLAB_SSH_CONFIG="+c.Config, "SIMHOSTS_DIR="+c.Dir)
	if interactive {
		cmd.Env = append(cmd.Env, "PS1=[simhosts] \\w\\$ ")
	}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	sig := make(chan os.Signal, 4)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sig)
	if err := child.Start(cmd); err != nil {
		fmt.Fprintf(os.Stderr, "simhosts: %v\n", err)
		return 127
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	for {
		select {
		case err := <-done:
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				if ee.ExitCode() < 0 {
					return 128 + int(ee.Sys().(syscall.WaitStatus).Signal())
				}
				return ee.ExitCode()
			}
			if err != nil {
				return 1
			}
			return 0
		case s := <-sig:
			if s == os.Interrupt {
				if !interactive {
					cmd.Process.Signal(os.Interrupt)
				}
				continue
			}
			fmt.Fprintf(os.Stderr, "simhosts: %v: ending %s, then the simulated hosts\n", s, argv[0])
			cmd.Process.Signal(syscall.SIGTERM)
			go func() {
				time.Sleep(5 * time.Second)
				cmd.Process.Kill()
			}()
		}
	}
}

// teardown removes the hosts, and the records of the labs across
// machines still up on them: nothing else keeps them (each host has its
// own /run and /var/lib, where nslab up put its state and its copy).
func teardown(c *simhost.Cluster, began time.Time) error {
	var errs []error
	for _, lab := range labsOn(c, began) {
		fmt.Fprintf(os.Stderr, "simhosts: lab %s was still up on the simulated hosts; it goes with them (its record %s too)\n",
			lab, filepath.Join(fleetDir, lab+".json"))
		if err := os.Remove(filepath.Join(fleetDir, lab+".json")); err != nil {
			errs = append(errs, err)
		}
		// The last record takes the directory, and nslab's state
		// directory when nothing else is in it, as nslab down does.
		if os.Remove(fleetDir) == nil {
			os.Remove(filepath.Dir(fleetDir))
		}
	}
	if err := c.Close(); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "simhosts: the simulated hosts are removed (%s, their namespaces, sshd, %s)\n", c.Bridge, c.Dir)
	return nil
}

// labsOn lists the labs across machines recorded here since began that
// run on the cluster's hosts: every host of the record is one of the
// cluster's by its ssh name, and the lab is on them (in their
// /run/nslab). Other clusters on the machine may have hosts of the same
// names.
func labsOn(c *simhost.Cluster, began time.Time) []string {
	ours := map[string]bool{}
	for _, h := range c.Hosts {
		ours[h.Name] = true
	}
	present := map[string]map[string]bool{} // host -> labs there
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, h := range c.Hosts {
		out, _ := c.Command(ctx, h.Name, "ls", "/run/nslab").Output()
		present[h.Name] = map[string]bool{}
		for _, l := range strings.Fields(string(out)) {
			present[h.Name][l] = true
		}
	}
	ents, _ := os.ReadDir(fleetDir)
	var labs []string
	for _, e := range ents {
		name, ok := strings.CutSuffix(e.Name(), ".json")
		fi, err := e.Info()
		if !ok || err != nil || fi.ModTime().Before(began) {
			continue
		}
		data, err := os.ReadFile(filepath.Join(fleetDir, e.Name()))
		if err != nil {
			continue
		}
		var rec struct {
			Hosts []struct {
				SSH   string `json:"ssh"`
				Local bool   `json:"local"`
			} `json:"hosts"`
		}
		if json.Unmarshal(data, &rec) != nil || len(rec.Hosts) == 0 {
			continue
		}
		mine, on := true, false
		for _, h := range rec.Hosts {
			mine = mine && !h.Local && ours[h.SSH]
			on = on || present[h.SSH][name]
		}
		if mine && on {
			labs = append(labs, name)
		}
	}
	return labs
}

func reapCmd(args []string) int {
	if len(args) > 0 {
		fmt.Fprintln(os.Stderr, "simhosts: reap takes no arguments")
		return 2
	}
	reaped, err := simhost.ReapDead()
	for _, r := range reaped {
		fmt.Printf("removed %s\n", r)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "simhosts: %v\n", err)
		return 1
	}
	if len(reaped) == 0 {
		fmt.Println("no simulated hosts of a dead process")
	}
	return 0
}
