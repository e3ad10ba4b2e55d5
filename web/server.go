package web

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"embed"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nslab/nslab/journal"
	"github.com/nslab/nslab/kernel"
	"github.com/nslab/nslab/lab"
	"github.com/nslab/nslab/plan"
	"github.com/nslab/nslab/topology"
)

//go:embed assets
var assets embed.FS

// TokenHeader carries the token on every request of the page.
const TokenHeader = "X-Nslab-Token"

// Config says how the server runs; its zero values are defaults.
type Config struct {
	// Token is what every request must carry; "" makes a random one.
	Token string
	// Every is how often the labs are sampled and sent; 0 is a second.
	Every time.Duration
	// Logf is told of what goes wrong on the way; nil is silent.
	Logf func(format string, args ...any)
}

// Server serves the page and its API for one listener.
type Server struct {
	Token   string
	cfg     Config
	hosts   []string // Host values allowed
	anyIP   bool     // listening on every address: any IP literal is a Host
	page    []byte
	csp     string
	sampler *Sampler
	hub     *hub
	lastMu  sync.Mutex
	last    map[string]sent // the last state's message, by lab
}

// NewToken returns a random token of 128 bits, in hex.
func NewToken() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// New makes a server for a listener bound to addr (host:port, the port
// as bound): requests must name that address, or localhost at its port
// when it is a loopback one, in their Host.
func New(addr string, cfg Config) (*Server, error) {
	if cfg.Token == "" {
		cfg.Token = NewToken()
	}
	if cfg.Every <= 0 {
		cfg.Every = time.Second
	}
	if cfg.Logf == nil {
		cfg.Logf = func(string, ...any) {}
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("listen address %q: %w", addr, err)
	}
	s := &Server{Token: cfg.Token, cfg: cfg, hosts: []string{addr}}
	ip := net.ParseIP(host)
	switch {
	case ip != nil && ip.IsLoopback():
		s.hosts = append(s.hosts, "localhost:"+port, "127.0.0.1:"+port, "[::1]:"+port)
	case ip != nil && ip.IsUnspecified():
		s.anyIP = true
	}
	if err := s.buildPage(); err != nil {
		return nil, err
	}
	s.sampler = NewSampler()
	s.sampler.Logf = cfg.Logf
	s.hub = &hub{clients: map[chan []byte]string{}, recent: map[string][][]byte{}}
	s.last = map[string]sent{}
	return s, nil
}

// buildPage inlines the script and style into the page, so that the one
// request that carries the token in its address loads all of it, and
// allows that script alone by its hash.
func (s *Server) buildPage() error {
	read := func(name string) (string, error) {
		b, err := assets.ReadFile("assets/" + name)
		return string(b), err
	}
	html, err := read("index.html")
	if err != nil {
		return err
	}
	js, err := read("app.js")
	if err != nil {
		return err
	}
	css, err := read("style.css")
	if err != nil {
		return err
	}
	sum := sha256.Sum256([]byte(js))
	s.csp = "default-src 'none'; script-src 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'; style-src 'unsafe-inline'; connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
	html = strings.Replace(html, "/*STYLE*/", css, 1)
	html = strings.Replace(html, "/*SCRIPT*/", js, 1)
	s.page = []byte(html)
	return nil
}

// Run samples the labs the pages show and follows the labs' events for
// the streams, until ctx is done.
func (s *Server) Run(ctx context.Context) {
	defer s.sampler.Close()
	go func() {
		// The labs' journals, not the kernel's notifications: those would
		// need an id for every namespace of every lab on the machine and
		// a read of all their links; the page has the kernel's view of its
		// lab's cables from the samples.
		err := lab.Events(ctx, lab.EventsOptions{Follow: true, Since: time.Now().Add(-time.Hour), Logf: s.cfg.Logf}, func(e journal.Event) {
			b, _ := json.Marshal(e)
			s.hub.event(e.Lab, append(append([]byte("event: event\ndata: "), b...), '\n', '\n'))
		})
		if err != nil {
			s.cfg.Logf("following events: %v", err)
		}
	}()
	tick := time.NewTicker(s.cfg.Every)
	defer tick.Stop()
	for {
		if labs := s.hub.labs(); len(labs) > 0 {
			for l, msg := range s.states(labs...) {
				s.hub.send(l, msg)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// states samples the labs and returns, by lab, the message of its state
// with the list of labs, and keeps them for pages that connect within the
// next period. The lab "" is the list alone (a page that shows no lab).
func (s *Server) states(labs ...string) map[string][]byte {
	snap := s.sampler.Sample(labs...)
	now := time.Now()
	out := map[string][]byte{}
	for _, l := range labs {
		one := struct {
			Time  time.Time `json:"time"`
			Names []LabName `json:"labs"`
			State *LabState `json:"state"`
			Took  float64   `json:"took_ms"`
		}{snap.Time, snap.Names, nil, snap.Took}
		for i := range snap.Labs {
			if snap.Labs[i].Name == l {
				one.State = &snap.Labs[i]
			}
		}
		b, _ := json.Marshal(one)
		out[l] = append(append([]byte("event: state\ndata: "), b...), '\n', '\n')
	}
	s.lastMu.Lock()
	for l, msg := range out {
		s.last[l] = sent{msg, now}
	}
	s.lastMu.Unlock()
	return out
}

// sent is a state message and when it was made.
type sent struct {
	msg []byte
	at  time.Time
}

// firstState is the state a page of lab gets as it connects: the last
// one if it is younger than a period (as fresh as the stream keeps any
// page), else one sampled now.
func (s *Server) firstState(lab string) []byte {
	s.lastMu.Lock()
	last, ok := s.last[lab]
	s.lastMu.Unlock()
	if ok && time.Since(last.at) < s.cfg.Every {
		return last.msg
	}
	return s.states(lab)[lab]
}

// Handler serves the page and the API.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", s.index)
	mux.HandleFunc("GET /api/graph", s.graph)
	mux.HandleFunc("GET /api/node", s.node)
	mux.HandleFunc("GET /api/stream", s.stream)
	mux.HandleFunc("POST /api/link", s.link)
	return s.guard(mux)
}

// guard refuses a request with another Host (DNS rebinding), a foreign
// Origin (another site's page), or without the token.
func (s *Server) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Cache-Control", "no-store")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		if !s.hostAllowed(r.Host) {
			http.Error(w, fmt.Sprintf("nslab web: Host %q is not the address nslab listens on (%s): refused", r.Host, s.hosts[0]), http.StatusMisdirectedRequest)
			return
		}
		if o := r.Header.Get("Origin"); o != "" && o != "http://"+r.Host {
			http.Error(w, fmt.Sprintf("nslab web: a request from the page of %q: refused (only nslab's own page may ask)", o), http.StatusForbidden)
			return
		}
		if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" && site != "none" {
			http.Error(w, "nslab web: a request from another site: refused", http.StatusForbidden)
			return
		}
		tok := r.Header.Get(TokenHeader)
		if tok == "" && r.Method == http.MethodGet && r.URL.Path == "/" {
			tok = r.URL.Query().Get("token") // the address printed at start, once
		}
		if subtle.ConstantTimeCompare([]byte(tok), []byte(s.Token)) != 1 {
			s.refuse(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// refuse answers a request without the token. The page itself, loaded
// again without it (a reload), gets a page with nothing of the labs that
// takes the token from the tab's sessionStorage, if it holds one.
func (s *Server) refuse(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodGet && r.URL.Path == "/" {
		w.Header().Set("Content-Security-Policy", "default-src 'none'; script-src 'sha256-"+reloadHash+"'")
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprintf(w, "<!doctype html><title>nslab web</title><p>nslab web needs the token it printed at its start: open the address it printed.<script>%s</script>", reloadScript)
		return
	}
	http.Error(w, "nslab web: no token or a wrong one: give the token nslab web printed at its start", http.StatusUnauthorized)
}

const reloadScript = `var t=sessionStorage.getItem("nslab-token");if(t&&location.search.indexOf("token=")<0)location.replace("/?token="+encodeURIComponent(t)+location.search.replace("?","&"));`

var reloadHash = func() string {
	sum := sha256.Sum256([]byte(reloadScript))
	return base64.StdEncoding.EncodeToString(sum[:])
}()

func (s *Server) hostAllowed(host string) bool {
	if slices.Contains(s.hosts, host) {
		return true
	}
	if s.anyIP {
		h, port, err := net.SplitHostPort(host)
		_, myPort, _ := net.SplitHostPort(s.hosts[0])
		return err == nil && port == myPort && net.ParseIP(h) != nil
	}
	return false
}

func (s *Server) index(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", s.csp)
	h.Set("Content-Type", "text/html; charset=utf-8")
	w.Write(s.page)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

func (s *Server) graph(w http.ResponseWriter, r *http.Request) {
	g, err := s.sampler.Graph(r.URL.Query().Get("lab"))
	if err != nil {
		http.Error(w, err.Error(), http.StatusNotFound)
		return
	}
	writeJSON(w, g)
}

// NodeView is what a click on a node shows.
type NodeView struct {
	Lab        string             `json:"lab"`
	Node       string             `json:"node"`
	Netns      string             `json:"netns"`
	Interfaces []kernel.IfaceView `json:"interfaces"`
	Routes     []string           `json:"routes"`
	Processes  []kernel.Process   `json:"processes"`
}

func (s *Server) node(w http.ResponseWriter, r *http.Request) {
	name, node := r.URL.Query().Get("lab"), r.URL.Query().Get("node")
	t, err := lab.Topology(name)
	if err != nil {
		http.Error(w, err.Error(), http.StatusNotFound)
		return
	}
	if !slices.ContainsFunc(t.Nodes, func(n *topology.Node) bool { return n.Name == node }) {
		http.Error(w, fmt.Sprintf("lab %s has no node %q", name, node), http.StatusNotFound)
		return
	}
	v := NodeView{Lab: name, Node: node, Netns: plan.NetnsName(name, node)}
	c := kernel.NewConn()
	defer c.Close()
	if v.Interfaces, v.Routes, err = c.Describe(v.Netns); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	v.Processes, _ = kernel.ProcessesIn([]string{v.Netns})
	writeJSON(w, v)
}

// linkRequest cuts or joins a cable.
type linkRequest struct {
	Lab   string `json:"lab"`
	Node  string `json:"node"`
	Iface string `json:"iface"`
	Up    bool   `json:"up"`
}

func (s *Server) link(w http.ResponseWriter, r *http.Request) {
	var req linkRequest
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096)).Decode(&req); err != nil {
		http.Error(w, "a link request is JSON: {lab, node, iface, up}", http.StatusBadRequest)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	defer cancel()
	// Under the lab's lock, as nslab link down and up.
	if err := lab.Cut(ctx, req.Lab, req.Node, req.Iface, req.Up, lab.Options{Logf: s.cfg.Logf}); err != nil {
		status := http.StatusInternalServerError
		if errors.Is(err, context.DeadlineExceeded) {
			status = http.StatusServiceUnavailable
		}
		http.Error(w, err.Error(), status)
		return
	}
	writeJSON(w, map[string]bool{"ok": true})
}

// stream sends the state of the page's lab (?lab=) with the list of labs
// every second, and the lab's events as they come (the last ones first),
// as server-sent events, until the page goes or asks for another lab.
func (s *Server) stream(w http.ResponseWriter, r *http.Request) {
	fl, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming not supported", http.StatusInternalServerError)
		return
	}
	l := r.URL.Query().Get("lab")
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	w.WriteHeader(http.StatusOK)
	// The first state at once, not a second later.
	w.Write(s.firstState(l))
	fl.Flush()
	ch := s.hub.add(l)
	defer s.hub.remove(ch)
	for {
		select {
		case <-r.Context().Done():
			return
		case msg := <-ch:
			if _, err := w.Write(msg); err != nil {
				return
			}
			fl.Flush()
		}
	}
}

// hub passes messages to the streams, each of one lab; a stream too slow
// to take them loses some rather than stalling the others.
type hub struct {
	mu      sync.Mutex
	clients map[chan []byte]string // the lab each shows
	recent  map[string][][]byte    // the last events of each lab
}

// keepEvents is how many of a lab's last events a new page is sent.
const keepEvents = 200

// add registers a stream of lab, with the lab's last events waiting.
func (h *hub) add(lab string) chan []byte {
	ch := make(chan []byte, keepEvents+256)
	h.mu.Lock()
	for _, m := range h.recent[lab] {
		ch <- m
	}
	h.clients[ch] = lab
	h.mu.Unlock()
	return ch
}

// event sends an event's message to the streams of its lab and keeps it
// for the pages to come.
func (h *hub) event(lab string, msg []byte) {
	h.mu.Lock()
	r := append(h.recent[lab], msg)
	if len(r) > keepEvents {
		r = r[len(r)-keepEvents:]
	}
	h.recent[lab] = r
	h.mu.Unlock()
	h.send(lab, msg)
}

func (h *hub) remove(ch chan []byte) {
	h.mu.Lock()
	delete(h.clients, ch)
	h.mu.Unlock()
}

// labs lists the labs streams show.
func (h *hub) labs() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	seen := map[string]bool{}
	var out []string
	for _, l := range h.clients {
		if !seen[l] {
			seen[l] = true
			out = append(out, l)
		}
	}
	return out
}

func (h *hub) send(lab string, msg []byte) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for ch, l := range h.clients {
		if l != lab {
			continue
		}
		select {
		case ch <- msg:
		default:
		}
	}
}

// Sample reads the labs named now, as the streams are sent them.
func (s *Server) Sample(labs ...string) Snapshot { return s.sampler.Sample(labs...) }
