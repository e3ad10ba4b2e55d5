package topology_test

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/nslab/nslab/topology"
)

// equivalentFile is the file the builder of TestBuilderEqualsFile
// describes: two LANs, a router between them, a cable to the host, a
// shaped cable, auto routing and addresses from a pool.
const equivalentFile = `name: web
routing: auto
addressing: {pool: [10.77.0.0/16, fd77::/48]}
bridges:
  lan1: {subnets: [10.1.0.0/24], gateway: true, mtu: 1400}
  lan2: {}
  lan3: {link: lan2}
nodes:
  r:
    router: true
    interfaces:
      eth0: {link: lan1}
      eth1: {link: lan2, mac: "02:00:00:00:00:01"}
      wan: {link: s:wan, subnets: [10.9.0.0/31], shape: {rate: 10mbit}}
    sysctls: {net.ipv4.tcp_syncookies: "0"}
  a:
    hostname: alpha
    interfaces:
      eth0: {link: lan1, addresses: [10.1.0.10/24]}
    publish: ["8080:80"]
    services:
      db:
        command: [/bin/sleep, infinity]
        ready: {command: "true"}
  b:
    interfaces:
      eth0: {link: lan3}
      up: {link: host:hb}
    routes:
      - {to: 192.168.99.0/24, dev: up, metric: 5}
  s:
    interfaces:
      wan: {}
    services:
      static: "python3 -m http.server 8080"
      api:
        command: [/bin/sleep, "9000"]
        env: {LOG_LEVEL: debug, WORKERS: "4"}
        dir: /tmp
        restart: on-failure
        ready: {tcp: 9000, timeout: 30s, interval: 100ms}
        after: [static, a/db]
        stop: {signal: SIGINT, grace: 5s}
  empty: {}
host:
  interfaces:
    hb: {addresses: [10.66.0.1/30]}
`

func TestBuilderEqualsFile(t *testing.T) {
	b := topology.NewBuilder("web").Routing("auto").Pool("10.77.0.0/16", "fd77::/48")
	b.Bridge("lan1").Subnets("10.1.0.0/24").Gateway().MTU(1400)
	b.Bridge("lan2")
	b.Bridge("lan3").Link("lan2")
	r := b.Node("r").Router().Sysctl("net.ipv4.tcp_syncookies", "0")
	r.Interface("eth0", "lan1")
	r.Interface("eth1", "lan2").MAC("02:00:00:00:00:01")
	wan, _ := b.Cable("r:wan", "s:wan")
	wan.Subnets("10.9.0.0/31").Shape(topology.ShapeSpec{Rate: "10mbit"})
	b.Node("a").Hostname("alpha").Publish("8080:80").Interface("eth0", "lan1").Addresses("10.1.0.10/24")
	b.Node("b").Interface("eth0", "lan3")
	_, hb := b.Cable("b:up", "host:hb")
	hb.Addresses("10.66.0.1/30")
	b.Node("b").Route(topology.RouteSpec{To: "192.168.99.0/24", Dev: "up", Metric: 5})
	b.Node("s").Service("static", topology.ServiceSpec{Shell: "python3 -m http.server 8080"})
	b.Node("s").Service("api", topology.ServiceSpec{
		Command: []string{"/bin/sleep", "9000"}, Env: map[string]string{"WORKERS": "4", "LOG_LEVEL": "debug"},
		Dir: "/tmp", Restart: "on-failure",
		Ready: &topology.ReadySpec{TCP: "9000", Timeout: "30s", Interval: "100ms"},
		After: []string{"static", "a/db"}, StopSignal: "SIGINT", StopGrace: "5s",
	})
	b.Node("a").Service("db", topology.ServiceSpec{Command: []string{"/bin/sleep", "infinity"}, Ready: &topology.ReadySpec{Shell: "true"}})
	b.Node("empty")
	got, err := b.Lab()
	if err != nil {
		t.Fatal(err)
	}
	want, err := topology.Parse("web.yaml", []byte(equivalentFile))
	if err != nil {
		t.Fatal(err)
	}
	opts := cmp.Options{
		cmpopts.IgnoreTypes(topology.Pos{}),
		cmpopts.IgnoreFields(topology.Lab{}, "Source", "File"),
		cmpopts.EquateEmpty(),
		cmpopts.EquateComparable(netip.Prefix{}, netip.Addr{}),
	}
	if d := cmp.Diff(want, got, opts); d != "" {
		t.Errorf("builder and file differ (-file +builder):\n%s\nbuilder's text:\n%s", d, got.Source)
	}
	if got.Node("r").Pos.File != "nodes.r" || got.Node("r").Interfaces[0].Pos.File != "nodes.r.interfaces.eth0" || got.Node("r").Pos.Line != 0 {
		t.Errorf("positions: node r at %v, its eth0 at %v", got.Node("r").Pos, got.Node("r").Interfaces[0].Pos)
	}
	again, err := topology.Parse(got.File, got.Source)
	if err != nil || again.Name != "web" {
		t.Errorf("the builder's text parsed again: %v", err)
	}
}

// TestBuilderErrorsNameTheObject: what a file reports at a line, the
// builder reports at the object's path.
func TestBuilderErrorsNameTheObject(t *testing.T) {
	b := topology.NewBuilder("bad")
	b.Bridge("lan").Subnets("10.1.0.0/24")
	b.Node("a").Interface("eth0", "lan").Addresses("10.0.0.300/24")
	b.Node("c").Interface("eth0", "br9")
	b.Node("d").Route(topology.RouteSpec{To: "10.5.0.1/24", Via: "10.1.0.1"})
	b.Node("e").Interface("eth0", "lan").Shape(topology.ShapeSpec{Rate: "10mbps"})
	b.Node("e").Service("web", topology.ServiceSpec{Shell: "exec sleep 1", Restart: "sometimes"})
	_, err := b.Lab()
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{
		"nodes.a.interfaces.eth0.addresses: 10.0.0.300/24 is not an IP prefix",
		`nodes.c.interfaces.eth0.link: link c:eth0 -- br9: no bridge named "br9" (bridges: lan)`,
		"nodes.d.routes[0]: ",
		"nodes.e.interfaces.eth0.shape.rate: rate \"10mbps\": write bits per second as 10mbit",
		"nodes.e.services.web.restart: ",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in:\n%v", want, err)
		}
	}
	if strings.Contains(err.Error(), "builder.yaml:") {
		t.Errorf("an error gives a line of the builder's text:\n%v", err)
	}
}
