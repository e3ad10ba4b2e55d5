package topology

import (
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Defaults and limits of a service.
const (
	DefaultStopSignal    = "SIGTERM"
	DefaultStopGrace     = 10 * time.Second
	DefaultReadyTimeout  = 30 * time.Second
	DefaultReadyInterval = 100 * time.Millisecond
	// MaxStopGrace and MaxReadyTimeout bound how long up and down wait
	// for one service.
	MaxStopGrace    = time.Hour
	MaxReadyTimeout = time.Hour
	// MinReadyInterval keeps a readiness check from spinning;
	// MaxReadyInterval from sleeping past any sensible timeout.
	MinReadyInterval = 10 * time.Millisecond
	MaxReadyInterval = time.Minute
	// MaxServiceName keeps logs/NODE/SERVICE.log short.
	MaxServiceName = 32
)

// ShellPath runs the commands written as a string: /bin/sh -c STRING.
const ShellPath = "/bin/sh"

// ServicePath is the PATH a service's program is looked up in when the
// service's env sets none (up checks it is there before it builds).
const ServicePath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// Signals are the stop signals a service may name, by their full names.
var Signals = []string{"SIGABRT", "SIGALRM", "SIGHUP", "SIGINT", "SIGKILL", "SIGPWR", "SIGQUIT", "SIGTERM", "SIGUSR1", "SIGUSR2", "SIGWINCH"}

var serviceRule = nameRule{what: "service name", max: MaxServiceName, charset: labRule.charset}

// ValidServiceName reports whether s can name a service: the name is
// part of the log file's name, logs/NODE/SERVICE.log.
func ValidServiceName(s string) error { return serviceRule.check(s) }

// ParseServiceRef reads a reference to a service, "SERVICE" (a service of
// node) or "NODE/SERVICE".
func ParseServiceRef(s, node string) (ServiceRef, error) {
	n, name, qualified := strings.Cut(s, "/")
	if !qualified {
		n, name = node, s
	}
	if s == "" {
		return ServiceRef{}, fmt.Errorf("the service is empty: write SERVICE or NODE/SERVICE")
	}
	if qualified {
		if strings.Contains(name, "/") {
			return ServiceRef{}, fmt.Errorf("service %s: write SERVICE or NODE/SERVICE (one slash)", shortQuote(s))
		}
		if err := ValidNodeName(n); err != nil {
			return ServiceRef{}, fmt.Errorf("service %s: %v", shortQuote(s), err)
		}
	}
	if err := ValidServiceName(name); err != nil {
		return ServiceRef{}, fmt.Errorf("service %s: %v", shortQuote(s), err)
	}
	return ServiceRef{Node: n, Service: name}, nil
}

// serviceDecl is what the file says about a service, with the positions
// the model does not keep.
type serviceDecl struct {
	s          *Service
	hasCommand bool // command: was written, valid or not
}

var serviceFields = map[string]field[*serviceDecl]{
	"command": decodeServiceCommand,
	"env":     decodeServiceEnv,
	"dir":     decodeServiceDir,
	"user":    decodeServiceUser,
	"restart": decodeRestart,
	"ready":   decodeReady,
	"after":   decodeAfter,
	"stop":    decodeStop,
}

// readyDecl is a ready: mapping as written.
type readyDecl struct {
	r     *Ready
	kinds []entry // the tcp, http and command keys written
}

var readyFields = map[string]field[*readyDecl]{
	"tcp":     decodeReadyTCP,
	"http":    decodeReadyHTTP,
	"command": decodeReadyCommand,
	"timeout": func(p *parser, d *readyDecl, e entry, path string) {
		p.span(&d.r.Timeout, e, path, time.Millisecond, MaxReadyTimeout)
	},
	"interval": func(p *parser, d *readyDecl, e entry, path string) {
		p.span(&d.r.Interval, e, path, MinReadyInterval, MaxReadyInterval)
	},
}

var stopFields = map[string]field[*serviceDecl]{
	"signal": func(p *parser, d *serviceDecl, e entry, path string) { p.signal(d.s, e.val, path) },
	"grace": func(p *parser, d *serviceDecl, e entry, path string) {
		p.span(&d.s.StopGrace, e, path, time.Millisecond, MaxStopGrace)
	},
}

func decodeServices(p *parser, d *nodeDecl, e entry, path string) {
	for _, se := range p.mapEntries(e.val, path, "service name") {
		if err := ValidServiceName(se.key); err != nil {
			p.errorf(se.keyPos, "%v", err)
			continue
		}
		s := &Service{Node: d.n.Name, Name: se.key, Pos: se.keyPos, Restart: RestartNo,
			StopSignal: DefaultStopSignal, StopGrace: DefaultStopGrace}
		// Kept when in error too, so that after: entries naming it are
		// not reported as well.
		p.decodeService(&serviceDecl{s: s}, se, join(path, se.key))
		d.n.Services = append(d.n.Services, s)
	}
	slices.SortFunc(d.n.Services, func(a, b *Service) int { return strings.Compare(a.Name, b.Name) })
}

// decodeService reads a service: a mapping, or its command alone.
func (p *parser) decodeService(d *serviceDecl, se entry, path string) {
	n := p.deref(se.val)
	if n == nil {
		return
	}
	switch typeOf(n) {
	case tagNull:
		p.errorf(se.keyPos, "service %s has no command: write the command to run (%s: \"python3 -m http.server 8080\") or a mapping with command:", d.s.Ref(), se.key)
	case tagMap:
		if decodeFields(p, n, path, serviceFields, d) && !d.hasCommand {
			p.errorf(se.keyPos, "service %s has no command: add command: (a string run by /bin/sh -c, or a list: the program and its arguments)", d.s.Ref())
		}
	default:
		d.s.Command, d.s.Shell, d.s.CommandPos, _ = p.command(n, path)
	}
}

func decodeServiceCommand(p *parser, d *serviceDecl, e entry, path string) {
	d.hasCommand = true
	d.s.Command, d.s.Shell, d.s.CommandPos, _ = p.command(e.val, path)
}

// command reads a command: a string, run by /bin/sh -c, or a list, the
// program and its arguments. The position is that of the string, or of
// the program in a list.
func (p *parser) command(n *yaml.Node, path string) ([]string, bool, Pos, bool) {
	if n = p.deref(n); n == nil {
		return nil, false, Pos{}, false
	}
	switch typeOf(n) {
	case tagStr, tagInt, tagFloat:
		s, pos := n.Value, p.posOf(n)
		if strings.TrimSpace(s) == "" {
			p.errorf(pos, "%s is empty: write the command to run", path)
			return nil, false, Pos{}, false
		}
		if strings.IndexByte(s, 0) >= 0 {
			p.errorf(pos, "%s contains a NUL character, which no command can hold", path)
			return nil, false, Pos{}, false
		}
		return []string{ShellPath, "-c", s}, true, pos, true
	case tagSeq:
		return p.argv(n, path)
	case tagNull:
		p.errorf(p.posOf(n), "%s is empty: write the command to run, a string or a list", path)
		return nil, false, Pos{}, false
	}
	p.typeError(n, path, "a command (a string run by /bin/sh -c, or a list: the program and its arguments)")
	return nil, false, Pos{}, false
}

// argv reads a command written as a list.
func (p *parser) argv(n *yaml.Node, path string) ([]string, bool, Pos, bool) {
	items := p.list(n, path, false)
	if len(items) == 0 {
		p.errorf(p.posOf(n), "%s is an empty list: write the program and its arguments, such as [/usr/bin/myapi, --port, \"9000\"]", path)
		return nil, false, Pos{}, false
	}
	argv := make([]string, 0, len(items))
	var pos Pos
	ok := true
	for i, it := range items {
		s, at, good := p.str(it, listPath(path, i))
		switch {
		case !good:
			ok = false
			continue
		case strings.IndexByte(s, 0) >= 0:
			p.errorf(at, "%s contains a NUL character, which no argument can hold", listPath(path, i))
			ok = false
		case i == 0 && strings.TrimSpace(s) == "":
			p.errorf(at, "%s: the program is empty: write its name or path first", path)
			ok = false
		case i == 0 && s != strings.TrimSpace(s):
			p.errorf(at, "%s: the program %q has spaces around it: a list holds the program and each argument as separate items", path, s)
			ok = false
		}
		if i == 0 {
			pos = at
		}
		argv = append(argv, s)
	}
	if !ok {
		return nil, false, Pos{}, false
	}
	return argv, false, pos, true
}

// decodeServiceEnv reads env: a mapping of variables to values. Numbers
// and booleans are taken as written.
func decodeServiceEnv(p *parser, d *serviceDecl, e entry, path string) {
	for _, ve := range p.mapEntries(e.val, path, "variable") {
		if err := validEnvName(ve.key); err != nil {
			p.errorf(ve.keyPos, "%s: %v", path, err)
			continue
		}
		vpath := join(path, ve.key)
		n := p.deref(ve.val)
		if n == nil {
			continue
		}
		switch typeOf(n) {
		case tagStr, tagInt, tagFloat, tagBool:
		case tagNull:
			p.errorf(ve.keyPos, "%s has no value: write \"\" for an empty one", vpath)
			continue
		default:
			p.typeError(n, vpath, "a string")
			continue
		}
		if strings.IndexByte(n.Value, 0) >= 0 {
			p.errorf(p.posOf(n), "%s contains a NUL character, which no environment variable can hold", vpath)
			continue
		}
		if ve.key == "PATH" && strings.Contains(n.Value, "$") {
			p.errorf(p.posOf(n), "%s: values are taken as written, not expanded ($PATH would stay $PATH): write every directory, such as /opt/app/bin:%s", vpath, ServicePath)
			continue
		}
		d.s.Env = append(d.s.Env, ve.key+"="+n.Value)
	}
	slices.SortFunc(d.s.Env, func(a, b string) int {
		ka, _, _ := strings.Cut(a, "=")
		kb, _, _ := strings.Cut(b, "=")
		return strings.Compare(ka, kb)
	})
}

// validEnvName accepts the names a shell can use: letters, digits and
// '_', not starting with a digit.
func validEnvName(k string) error {
	if k == "" {
		return fmt.Errorf("a variable name is empty")
	}
	if len(k) > 255 {
		return fmt.Errorf("variable name %s is %d bytes long; the limit is 255", shortQuote(k), len(k))
	}
	for i, c := range k {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || i > 0 && c >= '0' && c <= '9') {
			return fmt.Errorf("variable name %q contains %s; use letters, digits and '_', not starting with a digit", k, describeRune(c, i == 0))
		}
	}
	return nil
}

func decodeServiceDir(p *parser, d *serviceDecl, e entry, path string) {
	s, pos, ok := p.str(e.val, path)
	switch {
	case !ok:
	case s == "":
		p.errorf(pos, "%s is empty: leave it out to run in the node's own directory", path)
	case strings.IndexByte(s, 0) >= 0:
		p.errorf(pos, "%s contains a NUL character, which no path can hold", path)
	case !filepath.IsAbs(s):
		p.errorf(pos, "%s %q is relative: write an absolute path, or leave dir out to run in the node's own directory", path, s)
	default:
		d.s.Dir, d.s.DirPos = filepath.Clean(s), pos
	}
}

// MaxUID is the largest uid a service may run as: (uid_t)-1 means no
// user to the kernel.
const MaxUID = 1<<32 - 2

func decodeServiceUser(p *parser, d *serviceDecl, e entry, path string) {
	s, pos, ok := p.str(e.val, path)
	if !ok {
		return
	}
	if err := ValidUser(s); err != nil {
		p.errorf(pos, "%s: %v", path, err)
		return
	}
	d.s.User, d.s.UserPos = s, pos
}

// ValidUser reports whether s can name a user: a uid (decimal, up to
// MaxUID), or a user name of at most 32 bytes made of letters, digits,
// '.', '_' and '-', not starting with '-' and not all digits (useradd's
// rule, a trailing '$' allowed).
func ValidUser(s string) error {
	if s == "" {
		return fmt.Errorf("the user is empty: leave user out to run as nslab's own user")
	}
	if strings.Trim(s, "0123456789") == "" {
		if err := plainDecimal(s); err != nil {
			return fmt.Errorf("uid %v", err)
		}
		if v, err := strconv.ParseUint(s, 10, 64); err != nil || v > MaxUID {
			return fmt.Errorf("uid %s is out of range: it must be from 0 to %d", short(s), uint64(MaxUID))
		}
		return nil
	}
	if len(s) > 32 {
		return fmt.Errorf("user name %s is %d bytes long; the limit is 32", shortQuote(s), len(s))
	}
	name := strings.TrimSuffix(s, "$")
	for i, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-' && i > 0) {
			return fmt.Errorf("user name %q contains %s; write a user name (letters, digits, '.', '_', '-') or a uid", s, describeRune(c, i == 0))
		}
	}
	return nil
}

var restarts = []string{RestartNo, RestartOnFailure, RestartAlways}

// decodeRestart reads a restart policy. false is taken for no: YAML 1.1
// habits write it so; true would not say which of the other two.
func decodeRestart(p *parser, d *serviceDecl, e entry, path string) {
	n := p.deref(e.val)
	if n == nil {
		return
	}
	if typeOf(n) == tagBool {
		if !boolValue(n) {
			d.s.Restart = RestartNo
			return
		}
		p.errorf(p.posOf(n), "%s: true does not say when to restart: write on-failure or always", path)
		return
	}
	s, pos, ok := p.str(n, path)
	if !ok {
		return
	}
	if !slices.Contains(restarts, s) {
		hint := ""
		switch low := strings.ToLower(s); {
		case low == "off" || low == "n" || low == "none" || low == "never" || low == "false":
			hint = " (did you mean no?)"
		case low == "yes" || low == "y" || low == "on" || low == "true":
			hint = " (" + s + " does not say when to restart)"
		default:
			if near := closest(s, restarts); near != "" {
				hint = fmt.Sprintf(" (did you mean %s?)", near)
			}
		}
		p.errorf(pos, "%s %s: write no, on-failure or always%s", path, shortQuote(s), hint)
		return
	}
	d.s.Restart = s
}

func decodeReady(p *parser, d *serviceDecl, e entry, path string) {
	n := p.deref(e.val)
	if n == nil {
		return
	}
	if t := typeOf(n); t != tagMap {
		if t == tagNull {
			p.errorf(e.keyPos, "%s is empty: give tcp, http or command (ready: {tcp: 8080})", path)
		} else {
			p.typeError(n, path, "a mapping with one of tcp, http or command (ready: {tcp: 8080})")
		}
		return
	}
	r := &readyDecl{r: &Ready{Pos: e.keyPos}}
	errs := len(p.errs)
	if !decodeFields(p, n, path, readyFields, r) {
		return
	}
	switch len(r.kinds) {
	case 0:
		p.errorf(e.keyPos, "%s says how long but not what to check: give one of tcp, http or command", path)
		return
	case 1:
	default:
		p.errorf(r.kinds[1].keyPos, "%s has both %s (at %s) and %s: give one of tcp, http or command", path, r.kinds[0].key, r.kinds[0].keyPos, r.kinds[1].key)
		return
	}
	if len(p.errs) > errs || p.overflow {
		return
	}
	if r.r.Timeout == 0 {
		r.r.Timeout = DefaultReadyTimeout
	}
	if r.r.Interval == 0 {
		r.r.Interval = min(DefaultReadyInterval, r.r.Timeout)
	}
	if r.r.Interval > r.r.Timeout {
		p.errorf(e.keyPos, "%s: interval %s is longer than timeout %s: the check would run once at most", path, r.r.Interval, r.r.Timeout)
		return
	}
	d.s.Ready = r.r
}

func decodeReadyTCP(p *parser, d *readyDecl, e entry, path string) {
	d.kinds = append(d.kinds, e)
	s, pos, ok := p.str(e.val, path)
	if !ok {
		return
	}
	addr, err := ParseReadyTCP(s)
	if err != nil {
		p.errorf(pos, "%s: %v", path, err)
		return
	}
	d.r.TCP = addr
}

func decodeReadyHTTP(p *parser, d *readyDecl, e entry, path string) {
	d.kinds = append(d.kinds, e)
	s, pos, ok := p.str(e.val, path)
	if !ok {
		return
	}
	u, err := ParseReadyURL(s)
	if err != nil {
		p.errorf(pos, "%s: %v", path, err)
		return
	}
	d.r.HTTP = u
}

func decodeReadyCommand(p *parser, d *readyDecl, e entry, path string) {
	d.kinds = append(d.kinds, e)
	d.r.Command, d.r.Shell, d.r.CommandPos, _ = p.command(e.val, path)
}

// span reads a duration with its unit into v, from lo to hi.
func (p *parser) span(v *time.Duration, e entry, path string, lo, hi time.Duration) {
	n := p.deref(e.val)
	if n == nil {
		return
	}
	s, pos, ok := p.str(n, path)
	if !ok {
		return
	}
	if t := typeOf(n); t == tagInt || t == tagFloat {
		p.errorf(pos, "%s: %s has no unit: write %ss, or %sms", path, short(s), short(s), short(s))
		return
	}
	d, err := time.ParseDuration(strings.TrimSpace(s))
	switch {
	case err != nil:
		p.errorf(pos, "%s: %s is not a duration with its unit, such as 500ms, 10s or 1m30s", path, shortQuote(s))
	case d < lo || d > hi:
		p.errorf(pos, "%s: %s is out of range: it must be from %s to %s", path, s, shortDuration(lo), shortDuration(hi))
	default:
		*v = d
	}
}

// decodeAfter reads after: the services that must be ready first, as
// SERVICE (of the same node) or NODE/SERVICE.
func decodeAfter(p *parser, d *serviceDecl, e entry, path string) {
	seen := map[ServiceRef]Pos{}
	for i, n := range p.list(e.val, path, true) {
		s, pos, ok := p.str(n, listPath(path, i))
		if !ok {
			continue
		}
		ref, err := ParseServiceRef(s, d.s.Node)
		if err != nil {
			p.errorf(pos, "%s: %v", path, err)
			continue
		}
		ref.Pos = pos
		key := ServiceRef{Node: ref.Node, Service: ref.Service}
		switch first, dup := seen[key]; {
		case ref.Node == d.s.Node && ref.Service == d.s.Name:
			p.errorf(pos, "%s: service %s cannot wait for itself", path, d.s.Ref())
			continue
		case dup:
			p.errorf(pos, "%s: %s is listed twice (first at %s)", path, key, first)
			continue
		}
		seen[key] = pos
		d.s.After = append(d.s.After, ref)
	}
}

// decodeStop reads stop: a mapping of signal and grace, or a signal
// alone.
func decodeStop(p *parser, d *serviceDecl, e entry, path string) {
	n := p.deref(e.val)
	if n == nil {
		return
	}
	switch typeOf(n) {
	case tagMap:
		decodeFields(p, n, path, stopFields, d)
	case tagNull:
		p.errorf(e.keyPos, "%s is empty: give signal, grace or both (stop: {signal: SIGINT, grace: 5s})", path)
	default:
		p.signal(d.s, n, path)
	}
}

// signal reads a stop signal: SIGTERM or TERM, in any case.
func (p *parser) signal(s *Service, n *yaml.Node, path string) {
	n = p.deref(n)
	if n == nil {
		return
	}
	v, pos, ok := p.str(n, path)
	if !ok {
		return
	}
	if typeOf(n) == tagInt {
		p.errorf(pos, "%s: write the signal's name (SIGTERM, not 15): numbers differ between machines", path)
		return
	}
	sig, err := ParseSignal(v)
	if err != nil {
		p.errorf(pos, "%s: %v", path, err)
		return
	}
	s.StopSignal = sig
}

// ParseSignal reads the name of a stop signal, with or without SIG, in
// any case, and returns its full name ("SIGTERM").
func ParseSignal(v string) (string, error) {
	sig := strings.ToUpper(v)
	if !strings.HasPrefix(sig, "SIG") {
		sig = "SIG" + sig
	}
	if !slices.Contains(Signals, sig) {
		return "", fmt.Errorf("signal %s: write one of %s (SIG may be left out)", shortQuote(v), strings.Join(Signals, ", "))
	}
	return sig, nil
}

// shortDuration writes 1h and 1m where time.Duration writes 1h0m0s and
// 1m0s.
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
