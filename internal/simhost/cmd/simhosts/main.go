// Command simhosts starts simulated hosts on this machine, to try a lab
// across machines without machines (test equipment, not part of nslab):
// each host is a network and a mount namespace of its own running
// OpenSSH's sshd on an underlay bridge (package internal/simhost).
//
//	sudo ./simhosts run -n 3               # three hosts, a shell with NSLAB_SSH_CONFIG set; exit ends them
//	sudo ./simhosts run -n 3 -- CMD ARG... # three hosts for the time CMD runs
//	sudo ./simhosts reap                   # remove the hosts of a simhosts that was killed (kill -9)
//	./simhosts stream -listen :5201        # in a node: receive one TCP stream, print its rate
//	./simhosts stream -to ADDR:5201 -t 3s  # in another node: send one for 3 s, print its rate
//
// run prints the hosts: block to put in a lab file and the ssh_config
// nslab uses for them (NSLAB_SSH_CONFIG), runs the command or the shell,
// then removes everything: the hosts' processes (sshd and whatever runs
// there, labs' nodes included), their namespaces and mounts, the
// underlay, the keys' temporary directory, the record of a lab across
// these hosts left up, and the copies of nslab that up put on them (the
// hosts share this machine's files). It does so too on SIGTERM or
// SIGHUP; a run killed with SIGKILL is removed by the next run or by
// reap.
package main

import (
	"fmt"
	"os"
)

func main() {
	if len(os.Args) < 2 {
		usage()
		os.Exit(2)
	}
	var code int
	switch os.Args[1] {
	case "run":
		code = runCmd(os.Args[2:])
	case "reap":
		code = reapCmd(os.Args[2:])
	case "stream":
		code = streamCmd(os.Args[2:])
	case "-h", "-help", "--help", "help":
		usage()
	default:
		fmt.Fprintf(os.Stderr, "simhosts: unknown command %q\n", os.Args[1])
		usage()
		code = 2
	}
	os.Exit(code)
}

func usage() {
	fmt.Fprint(os.Stderr, `usage:
  simhosts run [-n N] [-subnet CIDR] [-prefix P] [-- CMD ARG...]
      start N simulated hosts (h1, h2, ...), print their hosts: block, run CMD
      (default: an interactive shell) with NSLAB_SSH_CONFIG set, then remove them
  simhosts reap
      remove the simulated hosts of simhosts runs (and tests) that died
  simhosts stream -listen [ADDR]:PORT [-n STREAMS]
  simhosts stream -to ADDR:PORT [-t DURATION] [-json]
      one TCP stream between two nodes, its rate printed by both ends
`)
}
