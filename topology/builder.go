package topology

import (
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"
)

// Builder writes a topology from Go instead of a file. Values are given
// as a file gives them (addresses "10.0.0.2/24", rates "10mbit"), and
// Lab checks them with the code that checks files: the Lab it returns is
// the one the equivalent file gives, and its errors name the object,
// "nodes.a.interfaces.eth0.addresses: …", where a file's give a line.
//
//	b := topology.NewBuilder("web")
//	b.Bridge("lan").Subnets("10.1.0.0/24")
//	b.Node("a").Interface("eth0", "lan")
//	b.Node("b").Interface("eth0", "lan")
//	t, err := b.Lab()
//
// Objects are written in the order they were first named; naming one
// again (b.Node("a") twice) returns the same object. A Builder is not
// safe for concurrent use.
type Builder struct {
	name    string
	routing string
	pool    []string
	bridges []*BridgeBuilder
	nodes   []*NodeBuilder
	host    []*InterfaceBuilder
}

// NewBuilder starts the topology of the lab called name.
func NewBuilder(name string) *Builder { return &Builder{name: name} }

// Routing sets the lab's routing: "auto" (nslab adds the routes that
// make every address reach every other) or "static".
func (b *Builder) Routing(mode string) *Builder { b.routing = mode; return b }

// Pool gives the subnets segments without subnets of their own get
// theirs from (addressing.pool).
func (b *Builder) Pool(subnets ...string) *Builder { b.pool = append(b.pool, subnets...); return b }

// BridgeBuilder is a bridge of a Builder.
type BridgeBuilder struct {
	name               string
	addresses          []string
	subnets            []string
	gateway, nat, nat6 bool
	mtu                int
	link               string
}

// Bridge returns the bridge called name, added when new.
func (b *Builder) Bridge(name string) *BridgeBuilder {
	for _, x := range b.bridges {
		if x.name == name {
			return x
		}
	}
	x := &BridgeBuilder{name: name}
	b.bridges = append(b.bridges, x)
	return x
}

// Addresses gives the bridge host-side addresses.
func (x *BridgeBuilder) Addresses(a ...string) *BridgeBuilder {
	x.addresses = append(x.addresses, a...)
	return x
}

// Subnets gives the segment its subnets, at most one of each family.
func (x *BridgeBuilder) Subnets(s ...string) *BridgeBuilder {
	x.subnets = append(x.subnets, s...)
	return x
}

// Gateway gives the bridge's host side the first address of each subnet.
func (x *BridgeBuilder) Gateway() *BridgeBuilder { x.gateway = true; return x }

// NAT masquerades the segment's IPv4 traffic that leaves the lab.
func (x *BridgeBuilder) NAT() *BridgeBuilder { x.nat = true; return x }

// NAT6 masquerades its IPv6 traffic too.
func (x *BridgeBuilder) NAT6() *BridgeBuilder { x.nat6 = true; return x }

// MTU sets the bridge's MTU.
func (x *BridgeBuilder) MTU(mtu int) *BridgeBuilder { x.mtu = mtu; return x }

// Link joins the bridge to another with a trunk.
func (x *BridgeBuilder) Link(bridge string) *BridgeBuilder { x.link = bridge; return x }

// NodeBuilder is a node of a Builder.
type NodeBuilder struct {
	name     string
	hostname string
	router   bool
	ifaces   []*InterfaceBuilder
	routes   []RouteSpec
	sysctls  [][2]string
	publish  []string
	services []namedService
}

type namedService struct {
	name string
	spec ServiceSpec
}

// ServiceSpec is a program the node runs, as a file writes it (see the
// services: key of the format): Command is the program and its
// arguments, or Shell a script for /bin/sh -c (one of the two); Ready,
// After and Stop* are optional, durations written as "5s".
type ServiceSpec struct {
	Command    []string
	Shell      string
	Env        map[string]string
	Dir, User  string
	Restart    string // "no", "on-failure" or "always"
	Ready      *ReadySpec
	After      []string // SERVICE or NODE/SERVICE
	StopSignal string
	StopGrace  string
}

// ReadySpec says when a service is ready: one of TCP ("9000" or
// "ADDRESS:PORT"), HTTP (a URL) and Command (or Shell).
type ReadySpec struct {
	TCP, HTTP         string
	Command           []string
	Shell             string
	Timeout, Interval string
}

// RouteSpec is a static route as a file writes it: To is "default" or a
// prefix; Via, Dev and Metric are optional.
type RouteSpec struct {
	To, Via, Dev string
	Metric       int
}

// Node returns the node called name, added when new.
func (b *Builder) Node(name string) *NodeBuilder {
	for _, x := range b.nodes {
		if x.name == name {
			return x
		}
	}
	x := &NodeBuilder{name: name}
	b.nodes = append(b.nodes, x)
	return x
}

// Hostname sets the node's hostname (by default its name).
func (x *NodeBuilder) Hostname(h string) *NodeBuilder { x.hostname = h; return x }

// Router turns IPv4 and IPv6 forwarding on.
func (x *NodeBuilder) Router() *NodeBuilder { x.router = true; return x }

// Route adds static routes.
func (x *NodeBuilder) Route(r ...RouteSpec) *NodeBuilder { x.routes = append(x.routes, r...); return x }

// Sysctl sets a per-namespace kernel setting (net.*).
func (x *NodeBuilder) Sysctl(key, value string) *NodeBuilder {
	x.sysctls = append(x.sysctls, [2]string{key, value})
	return x
}

// Service adds the service called name to the node (started by the
// lab's supervisor).
func (x *NodeBuilder) Service(name string, s ServiceSpec) *NodeBuilder {
	x.services = append(x.services, namedService{name, s})
	return x
}

// Publish forwards host ports to the node ("8080:80", "5353:53/udp").
func (x *NodeBuilder) Publish(p ...string) *NodeBuilder {
	x.publish = append(x.publish, p...)
	return x
}

// InterfaceBuilder is an interface of a node or of the host.
type InterfaceBuilder struct {
	name      string
	link      string
	addresses []string
	subnets   []string
	mtu       int
	mac       string
	shape     *ShapeSpec
}

// ShapeSpec is a cable's shape as a file writes it: Rate "10mbit", Delay
// and Jitter "20ms", Loss "0.1%"; empty fields are not set.
type ShapeSpec struct {
	Rate, Delay, Jitter, Loss string
}

// Interface returns the node's interface called name, added when new;
// link is where its cable goes (a bridge, NODE:IF or host:IF), or empty
// for the far end of a cable written on the other side.
func (x *NodeBuilder) Interface(name, link string) *InterfaceBuilder {
	return builderIface(&x.ifaces, name, link)
}

// HostInterface returns the host's interface called name (the host end
// of a node–host cable), added when new; link is NODE:IF or empty.
func (b *Builder) HostInterface(name, link string) *InterfaceBuilder {
	return builderIface(&b.host, name, link)
}

func builderIface(list *[]*InterfaceBuilder, name, link string) *InterfaceBuilder {
	for _, x := range *list {
		if x.name == name {
			if link != "" {
				x.link = link
			}
			return x
		}
	}
	x := &InterfaceBuilder{name: name, link: link}
	*list = append(*list, x)
	return x
}

// Cable joins interface NODE:IF a to interface NODE:IF b with a
// point-to-point cable ("host:IF" for a host interface) and returns both
// ends.
func (b *Builder) Cable(a, z string) (*InterfaceBuilder, *InterfaceBuilder) {
	return b.end(a, z), b.end(z, "")
}

// end returns the interface ref, linked to link when link is given.
func (b *Builder) end(ref, link string) *InterfaceBuilder {
	node, name, _ := strings.Cut(ref, ":")
	if node == HostNode {
		return b.HostInterface(name, link)
	}
	return b.Node(node).Interface(name, link)
}

// Addresses gives the interface addresses.
func (x *InterfaceBuilder) Addresses(a ...string) *InterfaceBuilder {
	x.addresses = append(x.addresses, a...)
	return x
}

// Subnets gives a point-to-point cable its subnets.
func (x *InterfaceBuilder) Subnets(s ...string) *InterfaceBuilder {
	x.subnets = append(x.subnets, s...)
	return x
}

// MTU sets the interface's MTU.
func (x *InterfaceBuilder) MTU(mtu int) *InterfaceBuilder { x.mtu = mtu; return x }

// MAC sets the interface's Ethernet address.
func (x *InterfaceBuilder) MAC(mac string) *InterfaceBuilder { x.mac = mac; return x }

// Shape shapes the interface's cable, both ways.
func (x *InterfaceBuilder) Shape(s ShapeSpec) *InterfaceBuilder { x.shape = &s; return x }

// Lab checks the topology as a file is checked and returns it. Its Source
// is the equivalent file, which lab.Up keeps as the running lab's; its
// positions (Pos) name objects (File "nodes.a.interfaces.eth0", Line 0).
// Errors are a topology.ErrorList whose positions name objects the same
// way.
func (b *Builder) Lab() (*Lab, error) {
	w := &ywriter{}
	b.write(w)
	src := []byte(w.b.String())
	t, err := Parse(BuilderFile, src)
	if err != nil {
		var list ErrorList
		if !errors.As(err, &list) {
			return nil, err
		}
		out := make(ErrorList, 0, len(list))
		for _, e := range list {
			pos := w.pos(e.Pos)
			out = append(out, &Error{Pos: pos, Msg: strings.TrimPrefix(e.Msg, pos.File+": ")})
		}
		return nil, out
	}
	seen := map[uintptr]bool{}
	repos(reflect.ValueOf(t), w, seen)
	return t, nil
}

// BuilderFile is the file name of a Builder's topology: Lab.File, and the
// name its Source is parsed under again.
const BuilderFile = "builder.yaml"

// ywriter writes YAML one key a line, remembering each line's object.
type ywriter struct {
	b     strings.Builder
	paths []string // by line, from 0
}

func (w *ywriter) line(path string, depth int, text string) {
	w.b.WriteString(strings.Repeat("  ", depth) + text + "\n")
	w.paths = append(w.paths, path)
}

// pos turns a position in the written text into the object's path.
func (w *ywriter) pos(p Pos) Pos {
	if p.Line < 1 || p.Line > len(w.paths) {
		return Pos{File: "lab"}
	}
	return Pos{File: w.paths[p.Line-1]}
}

// repos replaces every position in v with the path of its object.
func repos(v reflect.Value, w *ywriter, seen map[uintptr]bool) {
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() || seen[v.Pointer()] {
			return
		}
		seen[v.Pointer()] = true
		repos(v.Elem(), w, seen)
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			repos(v.Index(i), w, seen)
		}
	case reflect.Struct:
		if p, ok := v.Addr().Interface().(*Pos); ok {
			if p.Line > 0 {
				*p = w.pos(*p)
			}
			return
		}
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				repos(v.Field(i), w, seen)
			}
		}
	}
}

func yq(s string) string { return strconv.Quote(s) }

func ylist(items []string) string {
	qs := make([]string, len(items))
	for i, s := range items {
		qs[i] = yq(s)
	}
	return "[" + strings.Join(qs, ", ") + "]"
}

func (b *Builder) write(w *ywriter) {
	w.line("name", 0, "# Written by topology.Builder.")
	w.line("name", 0, "name: "+yq(b.name))
	if b.routing != "" {
		w.line("routing", 0, "routing: "+yq(b.routing))
	}
	if len(b.pool) > 0 {
		w.line("addressing", 0, "addressing:")
		w.line("addressing.pool", 1, "pool: "+ylist(b.pool))
	}
	if len(b.bridges) > 0 {
		w.line("bridges", 0, "bridges:")
	}
	for _, x := range b.bridges {
		p := "bridges." + x.name
		if x.empty() {
			w.line(p, 1, yq(x.name)+": {}")
			continue
		}
		w.line(p, 1, yq(x.name)+":")
		yattrs(w, p, 2, "addresses", x.addresses)
		yattrs(w, p, 2, "subnets", x.subnets)
		yflag(w, p, 2, "gateway", x.gateway)
		yflag(w, p, 2, "nat", x.nat)
		yflag(w, p, 2, "nat6", x.nat6)
		ynum(w, p, 2, "mtu", x.mtu)
		ystr(w, p, 2, "link", x.link)
	}
	if len(b.nodes) > 0 {
		w.line("nodes", 0, "nodes:")
	}
	for _, x := range b.nodes {
		p := "nodes." + x.name
		if x.hostname == "" && !x.router && len(x.ifaces)+len(x.routes)+len(x.sysctls)+len(x.publish)+len(x.services) == 0 {
			w.line(p, 1, yq(x.name)+": {}")
			continue
		}
		w.line(p, 1, yq(x.name)+":")
		ystr(w, p, 2, "hostname", x.hostname)
		yflag(w, p, 2, "router", x.router)
		if len(x.ifaces) > 0 {
			w.line(p+".interfaces", 2, "interfaces:")
			for _, i := range x.ifaces {
				i.write(w, p+".interfaces."+i.name, 3)
			}
		}
		if len(x.routes) > 0 {
			w.line(p+".routes", 2, "routes:")
			for n, r := range x.routes {
				rp := fmt.Sprintf("%s.routes[%d]", p, n)
				w.line(rp, 3, "- to: "+yq(r.To))
				ystr(w, rp, 4, "via", r.Via)
				ystr(w, rp, 4, "dev", r.Dev)
				ynum(w, rp, 4, "metric", r.Metric)
			}
		}
		if len(x.sysctls) > 0 {
			w.line(p+".sysctls", 2, "sysctls:")
			for _, s := range x.sysctls {
				w.line(p+".sysctls."+s[0], 3, yq(s[0])+": "+yq(s[1]))
			}
		}
		yattrs(w, p, 2, "publish", x.publish)
		if len(x.services) > 0 {
			w.line(p+".services", 2, "services:")
			for _, sv := range x.services {
				sv.spec.write(w, p+".services."+sv.name, sv.name, 3)
			}
		}
	}
	if len(b.host) > 0 {
		w.line("host", 0, "host:")
		w.line("host.interfaces", 1, "interfaces:")
		for _, i := range b.host {
			i.write(w, "host.interfaces."+i.name, 2)
		}
	}
}

func (x *BridgeBuilder) empty() bool {
	return len(x.addresses)+len(x.subnets) == 0 && !x.gateway && !x.nat && !x.nat6 && x.mtu == 0 && x.link == ""
}

func (x *InterfaceBuilder) write(w *ywriter, p string, depth int) {
	if x.link == "" && len(x.addresses)+len(x.subnets) == 0 && x.mtu == 0 && x.mac == "" && x.shape == nil {
		w.line(p, depth, yq(x.name)+": {}")
		return
	}
	w.line(p, depth, yq(x.name)+":")
	ystr(w, p, depth+1, "link", x.link)
	yattrs(w, p, depth+1, "addresses", x.addresses)
	yattrs(w, p, depth+1, "subnets", x.subnets)
	ynum(w, p, depth+1, "mtu", x.mtu)
	ystr(w, p, depth+1, "mac", x.mac)
	if s := x.shape; s != nil {
		sp := p + ".shape"
		w.line(sp, depth+1, "shape:")
		ystr(w, sp, depth+2, "rate", s.Rate)
		ystr(w, sp, depth+2, "delay", s.Delay)
		ystr(w, sp, depth+2, "jitter", s.Jitter)
		ystr(w, sp, depth+2, "loss", s.Loss)
	}
}

func yattrs(w *ywriter, p string, depth int, key string, v []string) {
	if len(v) > 0 {
		w.line(p+"."+key, depth, key+": "+ylist(v))
	}
}

func yflag(w *ywriter, p string, depth int, key string, v bool) {
	if v {
		w.line(p+"."+key, depth, key+": true")
	}
}

func ynum(w *ywriter, p string, depth int, key string, v int) {
	if v != 0 {
		w.line(p+"."+key, depth, key+": "+strconv.Itoa(v))
	}
}

func ystr(w *ywriter, p string, depth int, key, v string) {
	if v != "" {
		w.line(p+"."+key, depth, key+": "+yq(v))
	}
}

func (s *ServiceSpec) write(w *ywriter, p, name string, depth int) {
	w.line(p, depth, yq(name)+":")
	command(w, p, depth+1, s.Command, s.Shell)
	if len(s.Env) > 0 {
		w.line(p+".env", depth+1, "env:")
		keys := make([]string, 0, len(s.Env))
		for k := range s.Env {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			w.line(p+".env."+k, depth+2, yq(k)+": "+yq(s.Env[k]))
		}
	}
	ystr(w, p, depth+1, "dir", s.Dir)
	ystr(w, p, depth+1, "user", s.User)
	ystr(w, p, depth+1, "restart", s.Restart)
	if r := s.Ready; r != nil {
		rp := p + ".ready"
		w.line(rp, depth+1, "ready:")
		if r.TCP != "" {
			v := yq(r.TCP)
			if _, err := strconv.Atoi(r.TCP); err == nil {
				v = r.TCP // a port is a number
			}
			w.line(rp+".tcp", depth+2, "tcp: "+v)
		}
		ystr(w, rp, depth+2, "http", r.HTTP)
		command(w, rp, depth+2, r.Command, r.Shell)
		ystr(w, rp, depth+2, "timeout", r.Timeout)
		ystr(w, rp, depth+2, "interval", r.Interval)
	}
	yattrs(w, p, depth+1, "after", s.After)
	if s.StopSignal != "" || s.StopGrace != "" {
		w.line(p+".stop", depth+1, "stop:")
		ystr(w, p+".stop", depth+2, "signal", s.StopSignal)
		ystr(w, p+".stop", depth+2, "grace", s.StopGrace)
	}
}

// command writes a command: key as a list, or as a shell string.
func command(w *ywriter, p string, depth int, argv []string, shell string) {
	switch {
	case len(argv) > 0:
		w.line(p+".command", depth, "command: "+ylist(argv))
	case shell != "":
		w.line(p+".command", depth, "command: "+yq(shell))
	}
}
