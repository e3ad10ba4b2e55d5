package lab

import (
	"fmt"
	"strings"

	"github.com/nslab/nslab/kernel"
	"github.com/nslab/nslab/topology"
)

// adviseForwarding tells, before a new lab is built, what forwardingAdvice
// finds.
func adviseForwarding(t *topology.Lab, opt *Options) {
	links, err := defaultRouteLinks()
	if err != nil {
		return
	}
	if note := forwardingAdvice(t, links, kernel.ReadSysctls); note != "" {
		opt.logf("lab %s: %s", t.Name, note)
	}
}

// defaultRouteLinks is kernel.DefaultRouteLinks; tests replace it.
var defaultRouteLinks = kernel.DefaultRouteLinks

// forwardingAdvice says, for a lab that masquerades IPv4 or publishes
// ports on addresses other machines reach, that the kernel drops what
// comes back (or in) from outside on a link of the host's default routes
// that does not forward (net.ipv4.conf.LINK.forwarding 0: IPv4 forwards
// by the interface a packet comes in on), and what to set: nslab changes
// no host-wide setting, and the host's own interfaces are not the lab's;
// "" when nothing needs it or every such link forwards. read reads
// sysctls by key (kernel.ReadSysctls).
func forwardingAdvice(t *topology.Lab, links []string, read func([]string) map[string]string) string {
	var why []string
	for _, b := range t.Bridges {
		if b.NAT {
			why = append(why, "bridge "+b.Name+" masquerades (nat)")
		}
	}
	for _, n := range t.Nodes {
		for _, p := range n.Publish {
			// Without an address, a port is published on 127.0.0.1 and
			// the lab's own host side only.
			if p.HostIP.Is4() && !p.HostIP.IsLoopback() {
				why = append(why, "node "+n.Name+" publishes "+p.String())
				break
			}
		}
	}
	if len(why) == 0 || len(links) == 0 {
		return ""
	}
	keys := make([]string, len(links))
	for i, l := range links {
		keys[i] = "net.ipv4.conf." + l + ".forwarding"
	}
	values := read(keys)
	var off []string
	for i, l := range links {
		if values[keys[i]] == "0" {
			off = append(off, l)
		}
	}
	if len(off) == 0 {
		return ""
	}
	if len(why) > 3 {
		why = append(why[:3], fmt.Sprintf("%d more", len(why)-3))
	}
	set := make([]string, len(off))
	for i, l := range off {
		set[i] = "net.ipv4.conf." + l + ".forwarding=1"
	}
	return fmt.Sprintf("%s, but what comes back or in from outside arrives on %s, which does not forward (IPv4 forwards by the interface a packet comes in on), so the kernel drops it; nslab changes no setting of the host's own interfaces: sysctl -w %s lets it through (net.ipv4.ip_forward=1 turns forwarding on for every interface)",
		strings.Join(why, ", "), strings.Join(off, " and "), strings.Join(set, " "))
}
