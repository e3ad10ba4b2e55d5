package lab

import (
	"strings"
	"testing"

	"github.com/nslab/nslab/topology"
)

// TestForwardingAdvice: a lab that masquerades, or publishes a port on
// addresses other machines reach, is told when a link of the host's
// default routes does not forward IPv4 (what comes back or in from outside
// on it is dropped: the NAT of examples/nat.yaml reached nothing outside
// on a host with net.ipv4.ip_forward 0, and up said nothing), and which
// setting lets it through; not when every such link forwards, nor for a
// lab that needs none.
func TestForwardingAdvice(t *testing.T) {
	parse := func(src string) *topology.Lab {
		t.Helper()
		l, err := topology.Parse("f.yaml", []byte(src))
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	nat := parse("name: f\nrouting: auto\nbridges:\n  lan: {subnets: [10.70.0.0/24], gateway: true, nat: true}\nnodes:\n  web: {interfaces: {eth0: {link: lan}}}\n")
	local := parse("name: f\nbridges:\n  lan: {subnets: [10.71.0.0/24], gateway: true}\nnodes:\n  web: {interfaces: {eth0: {link: lan}}, publish: [\"127.0.0.1:8080:80\"]}\n")
	open := parse("name: f\nbridges:\n  lan: {subnets: [10.72.0.0/24], gateway: true}\nnodes:\n  web: {interfaces: {eth0: {link: lan}}, publish: [\"0.0.0.0:8080:80\"]}\n")
	lab := parse("name: f\nbridges:\n  lan: {subnets: [10.74.0.0/24], gateway: true}\nnodes:\n  web: {interfaces: {eth0: {link: lan}}, publish: [\"8080:80\"]}\n")
	plain := parse("name: f\nbridges:\n  lan: {subnets: [10.73.0.0/24]}\nnodes:\n  web: {interfaces: {eth0: {link: lan}}}\n")
	var asked []string
	read := func(values map[string]string) func([]string) map[string]string {
		return func(keys []string) map[string]string {
			asked = append(asked, keys...)
			out := map[string]string{}
			for _, k := range keys {
				if v, ok := values[k]; ok {
					out[k] = v
				}
			}
			return out
		}
	}
	off := read(map[string]string{"net.ipv4.conf.eth0.forwarding": "0", "net.ipv4.conf.wan1.forwarding": "1"})
	got := forwardingAdvice(nat, []string{"eth0", "wan1"}, off)
	for _, want := range []string{"bridge lan masquerades", "arrives on eth0,", "sysctl -w net.ipv4.conf.eth0.forwarding=1", "net.ipv4.ip_forward=1"} {
		if !strings.Contains(got, want) {
			t.Errorf("NAT, eth0 not forwarding: advice lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "wan1") {
		t.Errorf("advice names wan1, which forwards:\n%s", got)
	}
	if got := forwardingAdvice(open, []string{"eth0"}, off); !strings.Contains(got, "node web publishes") || !strings.Contains(got, "eth0") {
		t.Errorf("a port published on every address, eth0 not forwarding:\n%s", got)
	}
	asked = nil
	for name, l := range map[string]*topology.Lab{"published on 127.0.0.1": local, "published on localhost and the lab's side": lab, "no NAT, nothing published": plain} {
		if got := forwardingAdvice(l, []string{"eth0"}, off); got != "" {
			t.Errorf("%s: advice %q; want none", name, got)
		}
	}
	if len(asked) != 0 {
		t.Errorf("read the host's settings for labs that need none: %v", asked)
	}
	on := read(map[string]string{"net.ipv4.conf.eth0.forwarding": "1"})
	if got := forwardingAdvice(nat, []string{"eth0"}, on); got != "" {
		t.Errorf("eth0 forwards: advice %q; want none", got)
	}
	if got := forwardingAdvice(nat, nil, off); got != "" {
		t.Errorf("no default route: advice %q; want none", got)
	}
}
